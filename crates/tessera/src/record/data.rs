//! [`Data`]: a session's keys and values, in one sorted vector.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Most entries a decoder reserves room for before it has read them: a record's declared
/// length is not trusted with an allocation.
const MAX_RESERVED: usize = 64;

/// Up to this many entries a map grows by one entry at a time (sessions mostly stay
/// below it), past it by doubling, so that building a large one stays linear.
const EXACT_GROWTH: usize = 16;

/// Session data: string keys, JSON values, kept sorted by key (as Flask serialises them).
///
/// A map with [`BTreeMap`](std::collections::BTreeMap)'s methods over one sorted vector of
/// pairs: sessions hold a handful of keys, so a lookup is a short binary search, a copy is
/// one allocation, and a session of one key takes one entry of heap (56 bytes with
/// serde_json's default features) instead of a B-tree node of eleven (632 bytes). A small map
/// grows one entry at a time, so it holds no spare room; past 16 entries it grows as a vector
/// does.
///
/// ```
/// use serde_json::json;
/// use tessera::Data;
///
/// let mut data = Data::new();
/// data.insert("user".to_owned(), json!("ada"));
/// data.insert("cart".to_owned(), json!([1, 2]));
/// assert_eq!(data.get("user"), Some(&json!("ada")));
/// assert_eq!(data.keys().collect::<Vec<_>>(), ["cart", "user"]);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Data(Vec<(String, Value)>);

impl Data {
    /// An empty map; it allocates nothing until the first insert.
    #[must_use]
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// An empty map with room for `capacity` entries.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Vec::with_capacity(capacity))
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// How many keys the map holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the map holds no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value under `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    /// The value under `key`, to change it in place.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.find(key).ok().map(|i| &mut self.0[i].1)
    }

    /// Whether the map holds `key`.
    #[must_use]
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`, returning the value it replaces.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                if self.0.len() == self.0.capacity() && self.0.len() < EXACT_GROWTH {
                    self.0.reserve_exact(1);
                }
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    /// Removes the entry of the smallest key and returns it.
    pub fn pop_first(&mut self) -> Option<(String, Value)> {
        (!self.0.is_empty()).then(|| self.0.remove(0))
    }

    /// Removes every key, keeping the allocation.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Keeps only the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut Value) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v));
    }

    /// The entries, sorted by key.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.0.iter())
    }

    /// The keys, sorted.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.0.iter().map(|(k, _)| k)
    }

    /// The values, in the order of their keys.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.0.iter().map(|(_, v)| v)
    }

    /// The values, in the order of their keys, to change them in place.
    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut Value> + ExactSizeIterator {
        self.0.iter_mut().map(|(_, v)| v)
    }

    /// `entries` sorted by key, the last of equal keys kept, as repeated inserts would.
    fn from_unsorted(mut entries: Vec<(String, Value)>) -> Self {
        // Stable: equal keys stay in their input order.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        // `later` is removed when it repeats `kept`'s key, after handing it its value.
        entries.dedup_by(|later, kept| {
            let repeat = later.0 == kept.0;
            if repeat {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            repeat
        });
        Self::fitted(entries)
    }

    /// `entries`, sorted and unique, without spare room if the map is small.
    fn fitted(mut entries: Vec<(String, Value)>) -> Self {
        if entries.len() <= EXACT_GROWTH {
            entries.shrink_to_fit();
        }
        Self(entries)
    }
}

/// An iterator over a [`Data`]'s entries, sorted by key.
#[derive(Debug, Clone)]
pub struct Iter<'a>(std::slice::Iter<'a, (String, Value)>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a String, &'a Value);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k, v))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a Data {
    type Item = (&'a String, &'a Value);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl IntoIterator for Data {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Later entries replace earlier ones under the same key, as repeated inserts do.
impl FromIterator<(String, Value)> for Data {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Self::from_unsorted(iter.into_iter().collect())
    }
}

impl Extend<(String, Value)> for Data {
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, iter: I) {
        for (key, value) in iter {
            self.insert(key, value);
        }
    }
}

impl<const N: usize> From<[(String, Value); N]> for Data {
    fn from(entries: [(String, Value); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl From<serde_json::Map<String, Value>> for Data {
    fn from(map: serde_json::Map<String, Value>) -> Self {
        map.into_iter().collect()
    }
}

impl From<Data> for serde_json::Map<String, Value> {
    fn from(data: Data) -> Self {
        data.into_iter().collect()
    }
}

impl std::ops::Index<&str> for Data {
    type Output = Value;

    /// The value under `key`.
    ///
    /// # Panics
    ///
    /// If the map does not hold `key`, as `BTreeMap`'s index does.
    fn index(&self, key: &str) -> &Value {
        match self.get(key) {
            Some(value) => value,
            None => panic!("no key {key:?} in the session data"),
        }
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Data {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(DataVisitor)
    }
}

struct DataVisitor;

impl<'de> Visitor<'de> for DataVisitor {
    type Value = Data;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of string keys to values")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut access: M) -> Result<Data, M::Error> {
        let declared = access.size_hint().unwrap_or(0);
        let mut entries: Vec<(String, Value)> = Vec::with_capacity(declared.min(MAX_RESERVED));
        let mut sorted = true;
        while let Some((key, value)) = access.next_entry::<String, Value>()? {
            // Records tessera wrote are sorted: then nothing is sorted again.
            if let Some((last, _)) = entries.last() {
                sorted &= *last < key;
            }
            entries.push((key, value));
        }
        Ok(if sorted {
            Data::fitted(entries)
        } else {
            // Later entries replace earlier ones, as serde_json's maps and Python's dicts do.
            Data::from_unsorted(entries)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::Data;

    fn keys(data: &Data) -> Vec<&str> {
        data.keys().map(String::as_str).collect()
    }

    #[test]
    fn keeps_keys_sorted_and_unique_like_a_btree_map() {
        let mut data = Data::new();
        let mut model = BTreeMap::new();
        for (i, key) in ["m", "b", "z", "a", "m", "", "é", "B", "b"]
            .iter()
            .enumerate()
        {
            assert_eq!(
                data.insert((*key).to_owned(), json!(i)),
                model.insert((*key).to_owned(), json!(i)),
                "{key}"
            );
        }
        assert_eq!(data.remove("z"), model.remove("z"));
        assert_eq!(data.remove("absent"), None);
        assert_eq!(
            keys(&data),
            model.keys().map(String::as_str).collect::<Vec<_>>()
        );
        assert_eq!(
            data.values().collect::<Vec<_>>(),
            model.values().collect::<Vec<_>>()
        );
        assert_eq!(data.len(), model.len());
        assert_eq!(data["m"], json!(4));
    }

    proptest::proptest! {
        #[test]
        fn behaves_as_a_btree_map(ops in proptest::collection::vec((0u8..4, 0u8..24, 0u32..9), 0..80)) {
            let mut data = Data::new();
            let mut model = BTreeMap::new();
            for (op, key, value) in ops {
                let key = format!("k{key}");
                match op {
                    0 | 1 => proptest::prop_assert_eq!(
                        data.insert(key.clone(), json!(value)),
                        model.insert(key.clone(), json!(value))
                    ),
                    2 => proptest::prop_assert_eq!(data.remove(&key), model.remove(&key)),
                    _ => {
                        if let Some(v) = data.get_mut(&key) {
                            *v = json!(value);
                        }
                        if let Some(v) = model.get_mut(&key) {
                            *v = json!(value);
                        }
                    }
                }
                proptest::prop_assert_eq!(data.get(&key), model.get(&key));
                proptest::prop_assert_eq!(data.contains_key(&key), model.contains_key(&key));
            }
            let entries: Vec<_> = data.iter().collect();
            proptest::prop_assert_eq!(entries, model.iter().collect::<Vec<_>>());
            proptest::prop_assert_eq!(data.len(), model.len());
            let rebuilt: Data = model.clone().into_iter().rev().collect();
            proptest::prop_assert_eq!(&rebuilt, &data);
            let json = serde_json::to_string(&data).unwrap();
            proptest::prop_assert_eq!(&json, &serde_json::to_string(&model).unwrap());
            proptest::prop_assert_eq!(serde_json::from_str::<Data>(&json).unwrap(), data);
        }
    }

    #[test]
    fn serializes_as_the_btree_map_did() {
        let data = Data::from([
            ("zeta".to_owned(), json!(1)),
            ("alpha".to_owned(), json!({"b": [1, 2], "a": null})),
        ]);
        let model: BTreeMap<_, _> = data.clone().into_iter().collect();
        assert_eq!(
            serde_json::to_string(&data).unwrap(),
            serde_json::to_string(&model).unwrap()
        );
        assert_eq!(
            rmp_serde::to_vec(&data).unwrap(),
            rmp_serde::to_vec(&model).unwrap()
        );
    }

    #[test]
    fn decodes_unsorted_input_and_the_last_duplicate_wins() {
        let data: Data = serde_json::from_str(r#"{"b": 1, "a": 2, "c": 3, "a": 4}"#).unwrap();
        assert_eq!(keys(&data), ["a", "b", "c"]);
        assert_eq!(data["a"], json!(4));
        let collected: Data = [("x".to_owned(), json!(1)), ("x".to_owned(), json!(2))]
            .into_iter()
            .collect();
        assert_eq!(collected.len(), 1);
        assert_eq!(collected["x"], json!(2));
    }

    #[test]
    fn a_declared_length_is_not_an_allocation() {
        // A MessagePack map32 header claiming 4,294,967,295 entries, and none after it.
        let bytes = [0xdf, 0xff, 0xff, 0xff, 0xff];
        assert!(rmp_serde::from_slice::<Data>(&bytes).is_err());
        // A map16 claiming two entries and holding them is read.
        let two = rmp_serde::to_vec(&Data::from([
            ("a".to_owned(), json!(1)),
            ("b".to_owned(), json!(2)),
        ]))
        .unwrap();
        assert_eq!(rmp_serde::from_slice::<Data>(&two).unwrap().len(), 2);
    }

    #[test]
    fn a_session_of_one_key_is_one_small_allocation() {
        let data = Data::from([("n".to_owned(), json!(1))]);
        assert_eq!(data.0.capacity(), 1);
        let mut grown = Data::new();
        for key in ["a", "b", "c"] {
            grown.insert(key.to_owned(), json!(0));
        }
        assert_eq!(grown.0.capacity(), 3);
        let decoded: Data = serde_json::from_str(r#"{"a": 1, "b": 2}"#).unwrap();
        assert_eq!(decoded.0.capacity(), 2);
    }
}
