//! What a request did to its session, key by key, and how that is laid over a record another
//! request saved meanwhile.
//!
//! Each key a request writes is one [`Change`]: a blind write (the key was not read first), a
//! write based on a read (the key was read first, so the value written may depend on what was
//! read), or read-modify-write functions to run again on the fresh value. Merging keeps every
//! blind write and every update, and keeps a read-based write only while the stored value is
//! still the one the request read: otherwise the merge is a [`Stale`] conflict.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::ValueError;
use crate::record::Data;

/// A read-modify-write function kept in the change log: the key and its current value (absent:
/// `None`) to the new value (`None` removes the key).
pub(crate) type Updater =
    Box<dyn Fn(&str, Option<&Value>) -> Result<Option<Value>, ValueError> + Send>;

/// How one key was changed.
///
/// The stored value a write depends on is kept here, key by key, rather than a copy of the
/// whole session as loaded: the session's data is then the only reference to what the store
/// decoded, and its first write changes it in place instead of copying every value.
pub(crate) enum Change {
    /// Written without reading it first: re-applied over any concurrent value.
    Blind,
    /// Written after reading it: re-applied only while the stored value is still this one,
    /// the value the request read (`None`: absent).
    Read(Option<Value>),
    /// Computed from the stored value by these functions, in order (`first`, then `rest`):
    /// re-run on a fresh value. `first` is kept apart so that the usual single update
    /// allocates no list. `read` is the stored value `first` ran on, for a plain write that
    /// follows and depends on it (then the change becomes [`Change::Read`] of it).
    Update {
        first: Updater,
        rest: Vec<Updater>,
        read: Option<Value>,
    },
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Blind => f.write_str("Blind"),
            Self::Read(_) => f.write_str("Read"),
            Self::Update { rest, .. } => write!(f, "Update({})", 1 + rest.len()),
        }
    }
}

/// What kind of write a [`Session`](super::Session) method makes.
pub(crate) enum Write {
    /// `insert`, `remove`: blind unless the key was read first.
    Plain,
    /// `overwrite`: blind even if the key was read (last writer wins for this key).
    Overwrite,
    /// `update`, `setdefault`: a function to re-run on a fresh value.
    Update(Updater),
}

/// The keys a request set or removed, with how.
pub(crate) type Changes = BTreeMap<String, Change>;

/// Records a write of `key` in `changes`. `was_read` says whether the request read the stored
/// value of `key` before this write; `current` is the session's value of `key` before this
/// write (at the key's first write, the stored value: what a read saw).
pub(crate) fn note(
    changes: &mut Changes,
    key: &str,
    write: Write,
    was_read: bool,
    current: Option<&Value>,
) {
    match changes.get_mut(key) {
        None => {
            let change = match write {
                Write::Overwrite => Change::Blind,
                Write::Update(first) => Change::Update {
                    first,
                    rest: Vec::new(),
                    read: current.cloned(),
                },
                Write::Plain if was_read => Change::Read(current.cloned()),
                Write::Plain => Change::Blind,
            };
            changes.insert(key.to_owned(), change);
        }
        Some(change) => match (change, write) {
            (change, Write::Overwrite) => *change = Change::Blind,
            (Change::Update { rest, .. }, Write::Update(f)) => rest.push(f),
            // A plain write after an update may use the update's result, which came from the
            // stored value: keep it only while that value is unchanged.
            (change @ Change::Update { .. }, Write::Plain) => {
                let read = match std::mem::replace(change, Change::Blind) {
                    Change::Update { read, .. } => read,
                    Change::Blind | Change::Read(_) => None,
                };
                if was_read {
                    *change = Change::Read(read);
                }
            }
            // Later writes of a key this request already wrote derive from its own value.
            (Change::Blind | Change::Read(_), _) => {}
        },
    }
}

/// Up to this many distinct keys read are remembered one by one; past it every key counts as
/// read (which can only turn a blind write into a read-based one, never the reverse).
const READS_KEPT: usize = 8;

/// Which stored values a request read before writing them, kept without allocating: a short
/// hash per key (a collision can only make a blind write count as read-based, the safe side).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Reads {
    all: bool,
    len: u8,
    hashes: [u64; READS_KEPT],
}

impl Reads {
    /// The request read `key`.
    pub(crate) fn note(&mut self, key: &str) {
        if self.all {
            return;
        }
        let hash = fnv1a(key);
        let len = usize::from(self.len);
        if self.hashes[..len].contains(&hash) {
            return;
        }
        if len == READS_KEPT {
            self.all = true;
        } else {
            self.hashes[len] = hash;
            self.len += 1;
        }
    }

    /// The request read every key (`items`, `keys`, `len`, …).
    pub(crate) fn note_all(&mut self) {
        self.all = true;
    }

    /// Whether the request read `key`.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.all || self.hashes[..usize::from(self.len)].contains(&fnv1a(key))
    }
}

fn fnv1a(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A merge found a key this request wrote from a value another request has changed since.
#[derive(Debug, thiserror::Error)]
#[error("session key {key:?} was changed by a concurrent request after this request read it")]
pub struct Stale {
    key: String,
    #[source]
    update: Option<ValueError>,
}

impl Stale {
    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// The data after laying `changes` (whose values are in `own`) over `base`, the freshly stored
/// data. `cleared`: the request cleared the session first, so nothing of `base` is kept.
/// `refuse_stale`: a read-based write of a key whose stored value changed since the request
/// read it is a conflict (otherwise it is kept, last writer wins).
pub(crate) fn merge(
    changes: &Changes,
    own: &Data,
    base: &Data,
    cleared: bool,
    refuse_stale: bool,
) -> Result<Data, Stale> {
    let mut data = if cleared { Data::new() } else { base.clone() };
    for (key, change) in changes {
        let value = match change {
            Change::Update { first, rest, .. } => {
                let mut value = data.get(key).cloned();
                for f in std::iter::once(first).chain(rest) {
                    value = f(key, value.as_ref()).map_err(|e| Stale {
                        key: key.clone(),
                        update: Some(e),
                    })?;
                }
                value
            }
            Change::Read(read) if refuse_stale && !cleared && base.get(key) != read.as_ref() => {
                return Err(Stale {
                    key: key.clone(),
                    update: None,
                });
            }
            Change::Read(_) | Change::Blind => own.get(key).cloned(),
        };
        match value {
            Some(value) => data.insert(key.clone(), value),
            None => data.remove(key),
        };
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(pairs: &[(&str, Value)]) -> Data {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn add(n: u64) -> Updater {
        Box::new(move |_, v| Ok(Some(json!(v.and_then(Value::as_u64).unwrap_or(0) + n))))
    }

    #[test]
    fn reads_are_remembered_without_allocating_and_overflow_to_all() {
        let mut reads = Reads::default();
        reads.note("a");
        assert!(reads.contains("a") && !reads.contains("b"));
        for i in 0..READS_KEPT {
            reads.note(&format!("k{i}"));
        }
        assert!(
            reads.contains("never read"),
            "past the limit every key counts as read"
        );
    }

    #[test]
    fn classification_of_writes() {
        let mut changes = Changes::new();
        note(&mut changes, "blind", Write::Plain, false, None);
        note(&mut changes, "read", Write::Plain, true, None);
        note(&mut changes, "upd", Write::Update(add(1)), true, None);
        note(&mut changes, "upd", Write::Update(add(2)), true, None);
        note(
            &mut changes,
            "upd-then-plain",
            Write::Update(add(1)),
            false,
            None,
        );
        note(&mut changes, "upd-then-plain", Write::Plain, true, None);
        note(
            &mut changes,
            "read-then-overwrite",
            Write::Plain,
            true,
            None,
        );
        note(
            &mut changes,
            "read-then-overwrite",
            Write::Overwrite,
            true,
            None,
        );
        let kinds: Vec<_> = changes.iter().map(|(k, c)| format!("{k}={c:?}")).collect();
        assert_eq!(
            kinds,
            [
                "blind=Blind",
                "read=Read",
                "read-then-overwrite=Blind",
                "upd=Update(2)",
                "upd-then-plain=Read"
            ]
        );
    }

    #[test]
    fn updates_rerun_on_the_fresh_value_and_blind_writes_win() {
        let mut changes = Changes::new();
        note(
            &mut changes,
            "n",
            Write::Update(add(1)),
            false,
            Some(&json!(5)),
        );
        note(&mut changes, "mine", Write::Plain, false, None);
        let own = data(&[("n", json!(6)), ("mine", json!("x"))]);
        let base = data(&[("n", json!(9)), ("mine", json!("theirs")), ("t", json!(1))]);
        let merged = merge(&changes, &own, &base, false, true).unwrap();
        assert_eq!(
            merged,
            data(&[("n", json!(10)), ("mine", json!("x")), ("t", json!(1))])
        );
    }

    #[test]
    fn a_read_based_write_survives_only_an_unchanged_value() {
        let mut changes = Changes::new();
        note(&mut changes, "n", Write::Plain, true, Some(&json!(5)));
        let own = data(&[("n", json!(6))]);
        let unchanged = data(&[("n", json!(5)), ("other", json!(1))]);
        let merged = merge(&changes, &own, &unchanged, false, true).unwrap();
        assert_eq!(merged, data(&[("n", json!(6)), ("other", json!(1))]));
        let changed = data(&[("n", json!(7))]);
        let stale = merge(&changes, &own, &changed, false, true).unwrap_err();
        assert_eq!(stale.key(), "n");
        // Opted into last-writer-wins: kept over the newer value.
        let lww = merge(&changes, &own, &changed, false, false).unwrap();
        assert_eq!(lww, data(&[("n", json!(6))]));
        // Removed by the other request meanwhile: also a change of what was read.
        assert!(merge(&changes, &own, &Data::new(), false, true).is_err());
    }

    #[test]
    fn an_update_that_no_longer_fits_the_fresh_value_is_stale() {
        let mut changes = Changes::new();
        let strict: Updater = Box::new(|key, v| match v {
            Some(Value::Number(n)) => Ok(Some(json!(n.as_u64().unwrap_or(0) + 1))),
            None => Ok(Some(json!(1))),
            Some(other) => Err(ValueError::read(
                key,
                serde_json::from_value::<u64>(other.clone()).unwrap_err(),
            )),
        });
        note(&mut changes, "n", Write::Update(strict), false, None);
        let base = data(&[("n", json!("not a number"))]);
        let stale = merge(&changes, &Data::new(), &base, false, true).unwrap_err();
        assert_eq!(stale.key(), "n");
        assert!(std::error::Error::source(&stale).is_some());
    }

    /// `n` updated from 5 to 6, then written plainly, `read` saying whether every key was read
    /// in between (`items`).
    fn update_then_plain(read: bool) -> Changes {
        let mut changes = Changes::new();
        let loaded = json!(5);
        note(
            &mut changes,
            "n",
            Write::Update(add(1)),
            false,
            Some(&loaded),
        );
        note(&mut changes, "n", Write::Plain, read, Some(&json!(6)));
        changes
    }

    #[test]
    fn a_plain_write_after_an_update_depends_on_the_value_the_update_read() {
        let own = data(&[("n", json!(60))]);
        let (unchanged, changed) = (data(&[("n", json!(5))]), data(&[("n", json!(7))]));
        let read = update_then_plain(true);
        assert_eq!(merge(&read, &own, &unchanged, false, true).unwrap(), own);
        assert_eq!(
            merge(&read, &own, &changed, false, true).unwrap_err().key(),
            "n"
        );
        // Not read before the plain write: blind, kept over anything.
        let blind = update_then_plain(false);
        assert_eq!(merge(&blind, &own, &changed, false, true).unwrap(), own);
    }

    #[test]
    fn a_cleared_session_keeps_nothing_of_the_base() {
        let mut changes = Changes::new();
        note(&mut changes, "b", Write::Plain, false, None);
        let own = data(&[("b", json!(2))]);
        let base = data(&[("c", json!(3))]);
        let merged = merge(&changes, &own, &base, true, true).unwrap();
        assert_eq!(merged, data(&[("b", json!(2))]));
    }
}
