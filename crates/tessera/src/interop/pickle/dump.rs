//! Writing JSON values as protocol 4 pickles Python's `pickle.loads` reads back.
//!
//! No FRAME (optional in protocol 4) and no memo (a JSON value shares nothing): every value is
//! written where it stands, with the opcodes Python's own pickler picks for it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::bigint::{self, DecimalError, Int};
use super::error::{Path, PickleError, Step};
use super::opcodes as op;
use super::value::{ESCAPE_SUFFIX, TAGS, TAG_BYTES, TAG_DICT, TAG_INT, TAG_SET, TAG_TUPLE};
use super::MAX_DEPTH;
use crate::record::Data;

/// Items per APPENDS, SETITEMS and ADDITEMS, as Python's pickler batches them.
const BATCH: usize = 1000;

pub(super) fn dumps(value: &Value) -> Result<Vec<u8>, PickleError> {
    let mut writer = Writer::new();
    writer.value(value, 0)?;
    Ok(writer.finish())
}

pub(super) fn dumps_dict(data: &Data) -> Result<Vec<u8>, PickleError> {
    let mut writer = Writer::new();
    let depth = writer.enter(0)?;
    writer.dict(&data.iter().collect::<Vec<_>>(), depth)?;
    Ok(writer.finish())
}

struct Writer<'a> {
    out: Vec<u8>,
    path: Path<'a>,
}

impl<'a> Writer<'a> {
    fn new() -> Self {
        Self {
            out: vec![op::PROTO, 4],
            path: Path::default(),
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.push(op::STOP);
        self.out
    }

    fn no_form(&self, what: &'static str) -> PickleError {
        PickleError::NoPickleForm {
            what,
            at: self.path.here(),
        }
    }

    fn enter(&self, depth: usize) -> Result<usize, PickleError> {
        if depth >= MAX_DEPTH {
            return Err(PickleError::TooDeep {
                at: self.path.here(),
            });
        }
        Ok(depth + 1)
    }

    /// Writes `value`; says whether Python can hash what it wrote (a set item must be).
    fn value(&mut self, value: &'a Value, depth: usize) -> Result<bool, PickleError> {
        match value {
            Value::Null => self.out.push(op::NONE),
            Value::Bool(true) => self.out.push(op::NEWTRUE),
            Value::Bool(false) => self.out.push(op::NEWFALSE),
            Value::Number(n) => {
                if let Some(v) = n.as_u64() {
                    self.int(v.into());
                } else if let Some(v) = n.as_i64() {
                    self.int(v.into());
                } else if let Some(v) = n.as_f64() {
                    self.out.push(op::BINFLOAT);
                    self.out.extend(v.to_be_bytes());
                } else {
                    // serde_json's arbitrary_precision: a number that is none of the three.
                    return Err(self.no_form("a number that is no i64, u64 or f64"));
                }
            }
            Value::String(text) => self.str(text),
            Value::Array(items) => {
                self.list(items, depth)?;
                return Ok(false);
            }
            Value::Object(map) => return self.object(map, depth),
        }
        Ok(true)
    }

    fn object(&mut self, map: &'a Map<String, Value>, depth: usize) -> Result<bool, PickleError> {
        let tag = match map.iter().next() {
            Some((key, value)) if map.len() == 1 && TAGS.contains(&key.as_str()) => {
                (key.as_str(), value)
            }
            _ => {
                let mut entries: Vec<_> = map.iter().collect();
                // Key order, whatever order the map keeps (serde_json's preserve_order).
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let depth = self.enter(depth)?;
                self.dict(&entries, depth)?;
                return Ok(false);
            }
        };
        match tag {
            (TAG_INT, Value::String(digits)) => {
                let int =
                    match bigint::from_decimal(digits.as_bytes()) {
                        Ok(int) if int.to_decimal() == *digits => int,
                        Err(DecimalError::TooManyDigits) => {
                            return Err(PickleError::TooLarge {
                                what: "an int's count of decimal digits",
                                limit: bigint::MAX_INT_DIGITS,
                                at: self.path.here(),
                            })
                        }
                        _ => return Err(self.no_form(
                            "{\" i\": …} holds no int's decimal digits (a -, then no leading zero)",
                        )),
                    };
                match int {
                    Int::Small(value) => self.int(value),
                    big @ Int::Big(_) => self.long(&big.to_le_twos()),
                }
                Ok(true)
            }
            (TAG_BYTES, Value::String(b64)) => {
                let bytes = STANDARD
                    .decode(b64)
                    .map_err(|_| self.no_form("{\" b\": …} holds no standard base64"))?;
                self.bytes(&bytes);
                Ok(true)
            }
            (TAG_TUPLE, Value::Array(items)) => self.tuple(items, depth),
            (TAG_SET, Value::Array(items)) => {
                self.set(items, depth)?;
                Ok(false)
            }
            (TAG_DICT, Value::Object(escaped)) => {
                let entry = match escaped.iter().next() {
                    Some((key, value)) if escaped.len() == 1 => key
                        .strip_suffix(ESCAPE_SUFFIX)
                        .filter(|tag| TAGS.contains(tag))
                        .map(|tag| (tag, value)),
                    _ => None,
                };
                let (key, value) = entry.ok_or_else(|| {
                    self.no_form(
                        "{\" di\": …} holds no one escaped tag key (\" t__\" and the like)",
                    )
                })?;
                let depth = self.enter(depth)?;
                self.out.push(op::EMPTY_DICT);
                self.str(key);
                self.path.push(Step::Key(key));
                self.value(value, depth)?;
                self.path.pop();
                self.out.push(op::SETITEM);
                Ok(false)
            }
            (TAG_INT, _) => Err(self.no_form("{\" i\": …} holds no string of digits")),
            (TAG_BYTES, _) => Err(self.no_form("{\" b\": …} holds no base64 string")),
            (TAG_TUPLE, _) => Err(self.no_form("{\" t\": …} holds no array")),
            (TAG_SET, _) => Err(self.no_form("{\" s\": …} holds no array")),
            _ => Err(self.no_form("{\" di\": …} holds no object")),
        }
    }

    fn int(&mut self, value: i128) {
        if let Ok(v) = u8::try_from(value) {
            self.out.extend([op::BININT1, v]);
        } else if let Ok(v) = u16::try_from(value) {
            self.out.push(op::BININT2);
            self.out.extend(v.to_le_bytes());
        } else if let Ok(v) = i32::try_from(value) {
            self.out.push(op::BININT);
            self.out.extend(v.to_le_bytes());
        } else {
            self.long(&Int::Small(value).to_le_twos());
        }
    }

    fn long(&mut self, bytes: &[u8]) {
        if let Ok(len) = u8::try_from(bytes.len()) {
            self.out.extend([op::LONG1, len]);
        } else {
            // Ints are capped at 4300 digits, 1786 bytes.
            self.out.push(op::LONG4);
            self.out.extend((bytes.len() as u32).to_le_bytes());
        }
        self.out.extend(bytes);
    }

    fn sized(&mut self, short: u8, long: u8, long8: u8, bytes: &[u8]) {
        if let Ok(len) = u8::try_from(bytes.len()) {
            self.out.extend([short, len]);
        } else if let Ok(len) = u32::try_from(bytes.len()) {
            self.out.push(long);
            self.out.extend(len.to_le_bytes());
        } else {
            self.out.push(long8);
            self.out.extend((bytes.len() as u64).to_le_bytes());
        }
        self.out.extend(bytes);
    }

    fn str(&mut self, text: &str) {
        self.sized(
            op::SHORT_BINUNICODE,
            op::BINUNICODE,
            op::BINUNICODE8,
            text.as_bytes(),
        );
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.sized(op::SHORT_BINBYTES, op::BINBYTES, op::BINBYTES8, bytes);
    }

    /// Items at `depth` (already entered), each noted in the path; says whether all hash.
    fn items(
        &mut self,
        items: &'a [Value],
        offset: usize,
        depth: usize,
    ) -> Result<bool, PickleError> {
        let mut hashable = true;
        for (i, item) in items.iter().enumerate() {
            self.path.push(Step::Index(offset + i));
            hashable &= self.value(item, depth)?;
            self.path.pop();
        }
        Ok(hashable)
    }

    fn list(&mut self, items: &'a [Value], depth: usize) -> Result<(), PickleError> {
        let depth = self.enter(depth)?;
        self.out.push(op::EMPTY_LIST);
        for (batch, chunk) in items.chunks(BATCH).enumerate() {
            if chunk.len() > 1 {
                self.out.push(op::MARK);
            }
            self.items(chunk, batch * BATCH, depth)?;
            self.out.push(if chunk.len() > 1 {
                op::APPENDS
            } else {
                op::APPEND
            });
        }
        Ok(())
    }

    fn tuple(&mut self, items: &'a [Value], depth: usize) -> Result<bool, PickleError> {
        let depth = self.enter(depth)?;
        if items.is_empty() {
            self.out.push(op::EMPTY_TUPLE);
            return Ok(true);
        }
        let mark = items.len() > 3;
        if mark {
            self.out.push(op::MARK);
        }
        let hashable = self.items(items, 0, depth)?;
        self.out.push(match items.len() {
            1 => op::TUPLE1,
            2 => op::TUPLE2,
            3 => op::TUPLE3,
            _ => op::TUPLE,
        });
        Ok(hashable)
    }

    fn set(&mut self, items: &'a [Value], depth: usize) -> Result<(), PickleError> {
        let depth = self.enter(depth)?;
        self.out.push(op::EMPTY_SET);
        for (batch, chunk) in items.chunks(BATCH).enumerate() {
            self.out.push(op::MARK);
            for (i, item) in chunk.iter().enumerate() {
                self.path.push(Step::Index(batch * BATCH + i));
                if !self.value(item, depth)? {
                    return Err(
                        self.no_form("a set item Python cannot hash (a list, a dict or a set)")
                    );
                }
                self.path.pop();
            }
            self.out.push(op::ADDITEMS);
        }
        Ok(())
    }

    /// A dict at `depth` (already entered), entries in the order given.
    fn dict(
        &mut self,
        entries: &[(&'a String, &'a Value)],
        depth: usize,
    ) -> Result<(), PickleError> {
        self.out.push(op::EMPTY_DICT);
        for chunk in entries.chunks(BATCH) {
            if chunk.len() > 1 {
                self.out.push(op::MARK);
            }
            for &(key, value) in chunk {
                self.str(key);
                self.path.push(Step::Key(key));
                self.value(value, depth)?;
                self.path.pop();
            }
            self.out.push(if chunk.len() > 1 {
                op::SETITEMS
            } else {
                op::SETITEM
            });
        }
        Ok(())
    }
}
