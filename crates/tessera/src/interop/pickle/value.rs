//! Turning what a pickle built into JSON, under the depth cap and the size budget; and the
//! tags the mapping uses.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Number, Value};

use super::error::{Path, PickleError, Step};
use super::load::{Loaded, Node, Obj, VALUE_COST};
use super::{MAX_DEPTH, MAX_EXPANDED_BYTES};
use crate::record::Data;

/// An int outside `i64` and `u64`: `{" i": "<decimal digits>"}`.
pub(super) const TAG_INT: &str = " i";
/// Bytes: `{" b": "<standard base64>"}`.
pub(super) const TAG_BYTES: &str = " b";
/// A tuple: `{" t": [...]}`.
pub(super) const TAG_TUPLE: &str = " t";
/// A set: `{" s": [...]}`.
pub(super) const TAG_SET: &str = " s";
/// A dict whose one key is a tag: `{" di": {"<key>__": value}}`, as Flask's `TagDict`.
pub(super) const TAG_DICT: &str = " di";
/// Every tag: a one-key dict with one of these keys is escaped with [`TAG_DICT`].
pub(super) const TAGS: [&str; 5] = [TAG_INT, TAG_BYTES, TAG_TUPLE, TAG_SET, TAG_DICT];
/// What [`TAG_DICT`] appends to the escaped key.
pub(super) const ESCAPE_SUFFIX: &str = "__";

/// What [`MAX_EXPANDED_BYTES`] counts, for messages.
pub(super) const EXPANDED: &str =
    "the unpickled value's size (32 bytes a value, plus the bytes of its text)";

pub(super) fn tagged(tag: &str, value: Value) -> Value {
    let mut map = Map::new();
    map.insert(tag.to_owned(), value);
    Value::Object(map)
}

/// The value STOP returned, as JSON.
pub(super) fn materialize(loaded: &Loaded) -> Result<Value, PickleError> {
    Materializer::new(loaded).value(loaded.root, 0)
}

/// The dict STOP returned, its keys as they are (no tag escaping at the top: they are the
/// session's keys).
pub(super) fn materialize_dict(loaded: &Loaded) -> Result<Data, PickleError> {
    let mut m = Materializer::new(loaded);
    let entries = match loaded.root {
        Node::Obj(index) => match loaded.objs.get(index) {
            Some(Obj::Dict(entries)) => entries,
            other => {
                return Err(PickleError::NotADict {
                    found: other.map_or("a value", kind),
                })
            }
        },
        Node::None => return Err(PickleError::NotADict { found: "None" }),
        Node::Bool(_) => return Err(PickleError::NotADict { found: "a bool" }),
        Node::Int(_) => return Err(PickleError::NotADict { found: "an int" }),
        Node::Float(_) => return Err(PickleError::NotADict { found: "a float" }),
    };
    m.charge(VALUE_COST)?;
    m.enter(0)?;
    m.entries(entries, 1)
}

fn kind(obj: &Obj) -> &'static str {
    match obj {
        Obj::Str(_) => "a str",
        Obj::Bytes(_) => "bytes",
        Obj::BigInt(_) => "an int",
        Obj::List(_) => "a list",
        Obj::Dict(_) => "a dict",
        Obj::Tuple { .. } => "a tuple",
        Obj::Set(_) => "a set",
    }
}

struct Materializer<'a> {
    objs: &'a [Obj],
    /// Bytes of [`MAX_EXPANDED_BYTES`] left; every occurrence of a shared value is charged.
    budget: usize,
    path: Path<'a>,
}

impl<'a> Materializer<'a> {
    fn new(loaded: &'a Loaded) -> Self {
        Self {
            objs: &loaded.objs,
            budget: MAX_EXPANDED_BYTES,
            path: Path::default(),
        }
    }

    fn charge(&mut self, cost: usize) -> Result<(), PickleError> {
        self.budget = self
            .budget
            .checked_sub(cost)
            .ok_or_else(|| PickleError::TooLarge {
                what: EXPANDED,
                limit: MAX_EXPANDED_BYTES,
                at: self.path.here(),
            })?;
        Ok(())
    }

    /// One level deeper into containers; a container inside itself ends here.
    fn enter(&self, depth: usize) -> Result<usize, PickleError> {
        if depth >= MAX_DEPTH {
            return Err(PickleError::TooDeep {
                at: self.path.here(),
            });
        }
        Ok(depth + 1)
    }

    fn value(&mut self, node: Node, depth: usize) -> Result<Value, PickleError> {
        self.charge(VALUE_COST)?;
        let index = match node {
            Node::None => return Ok(Value::Null),
            Node::Bool(b) => return Ok(Value::Bool(b)),
            Node::Int(value) => return Ok(small_int(value)),
            Node::Float(value) => {
                // The machine refused non-finite floats already.
                return Number::from_f64(value).map(Value::Number).ok_or_else(|| {
                    PickleError::Unrepresentable {
                        what: "a NaN or infinite float",
                        at: self.path.here(),
                    }
                });
            }
            Node::Obj(index) => index,
        };
        let objs = self.objs;
        let Some(obj) = objs.get(index) else {
            // The machine only makes indices into its arena.
            return Ok(Value::Null);
        };
        match obj {
            Obj::Str(text) => {
                self.charge(text.len())?;
                Ok(Value::String(text.clone()))
            }
            Obj::Bytes(bytes) => {
                self.charge(VALUE_COST.saturating_add(bytes.len().div_ceil(3) * 4))?;
                Ok(tagged(TAG_BYTES, Value::String(STANDARD.encode(bytes))))
            }
            Obj::BigInt(digits) => {
                self.charge(VALUE_COST + digits.len())?;
                Ok(tagged(TAG_INT, Value::String(digits.clone())))
            }
            Obj::List(items) => Ok(Value::Array(self.items(items, depth)?)),
            Obj::Tuple { items, .. } => {
                self.charge(VALUE_COST)?;
                Ok(tagged(TAG_TUPLE, Value::Array(self.items(items, depth)?)))
            }
            Obj::Set(items) => {
                self.charge(VALUE_COST)?;
                Ok(tagged(TAG_SET, Value::Array(self.items(items, depth)?)))
            }
            Obj::Dict(entries) => {
                let depth = self.enter(depth)?;
                let map = self.entries(entries, depth)?;
                self.escape(map)
            }
        }
    }

    /// A one-key dict whose key is a tag is escaped as Flask's `TagDict` does, so that it
    /// cannot be read back as what the tag stands for.
    fn escape(&mut self, mut map: Data) -> Result<Value, PickleError> {
        let is_tag = map.len() == 1 && map.keys().all(|key| TAGS.contains(&key.as_str()));
        if is_tag {
            if let Some((key, value)) = map.pop_first() {
                self.charge(2 * VALUE_COST + ESCAPE_SUFFIX.len())?;
                let escaped = tagged(&format!("{key}{ESCAPE_SUFFIX}"), value);
                return Ok(tagged(TAG_DICT, escaped));
            }
        }
        Ok(Value::Object(map.into_iter().collect()))
    }

    fn items(&mut self, items: &[Node], depth: usize) -> Result<Vec<Value>, PickleError> {
        let depth = self.enter(depth)?;
        let mut out = Vec::with_capacity(items.len());
        for (i, &item) in items.iter().enumerate() {
            self.path.push(Step::Index(i));
            out.push(self.value(item, depth)?);
            self.path.pop();
        }
        Ok(out)
    }

    /// A dict's entries at `depth` (already entered), the last of a repeated key winning.
    fn entries(&mut self, entries: &[(usize, Node)], depth: usize) -> Result<Data, PickleError> {
        let objs = self.objs;
        let mut map = Data::new();
        for &(key, value) in entries {
            let Some(Obj::Str(key)) = objs.get(key) else {
                // The machine only keeps str keys.
                continue;
            };
            self.charge(VALUE_COST + key.len())?;
            self.path.push(Step::Key(key));
            let value = self.value(value, depth)?;
            self.path.pop();
            map.insert(key.clone(), value);
        }
        Ok(map)
    }
}

/// An int the machine keeps inline, always within `i64::MIN..=u64::MAX`.
fn small_int(value: i128) -> Value {
    if let Ok(v) = i64::try_from(value) {
        Value::from(v)
    } else if let Ok(v) = u64::try_from(value) {
        Value::from(v)
    } else {
        tagged(TAG_INT, Value::String(value.to_string()))
    }
}
