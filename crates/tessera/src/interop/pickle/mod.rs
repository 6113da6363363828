//! Python's pickle, for plain data only: read and written without ever running anything.
//!
//! Django's `cache` and `cached_db` session engines keep `pickle.dumps(session_dict,
//! pickle.HIGHEST_PROTOCOL)` in the cache (protocol 5 on Python 3.8+, through Django's
//! `RedisSerializer` or the other cache backends), and so does cachelib's `FileSystemCache`
//! (after a 4-byte expiry header), which Flask-Session's filesystem backend uses. [`loads`] and
//! [`loads_dict`] read those bytes; [`dumps`] and [`dumps_dict`] write what Python's
//! `pickle.loads` reads back as the same dict.
//!
//! # Only plain data
//!
//! Unpickling is running a program: `GLOBAL` imports any callable, `REDUCE` calls it. This
//! module is a hand-written opcode machine (Python's stack, mark stack and memo) that knows
//! only the opcodes plain data needs, over protocols 0 to 5: none, bools, ints, floats, str,
//! bytes, lists, tuples, dicts, sets, and the memo's back-references. Every other opcode
//! (`GLOBAL`, `STACK_GLOBAL`, `REDUCE`, `BUILD`, `NEWOBJ`, `NEWOBJ_EX`, `INST`, `OBJ`,
//! `PERSID`, `BINPERSID`, `EXT1`/`EXT2`/`EXT4`, `NEXT_BUFFER`, `READONLY_BUFFER`, or a byte that
//! is no opcode) is [`PickleError::Refused`] as soon as it is met, naming it and its offset.
//! So a session holding a `datetime`, a `Decimal`, an `OrderedDict` or any class instance is
//! refused, and so is every exploit payload.
//!
//! Bytes and sets are plain opcodes only from protocol 3 (bytes) and 4 (sets): protocols 0 to
//! 2 write them as calls (`_codecs.encode`, `builtins.set`) and are refused like any `GLOBAL`.
//! Django and cachelib write the highest protocol, 5 on Python 3.8+, where they are plain.
//!
//! The caps: the input is at most [`MAX_PICKLE_BYTES`]; containers nest at most [`MAX_DEPTH`]
//! deep (so a list inside itself, which the memo can build, is [`PickleError::TooDeep`]); the
//! value built and its JSON form count at most [`MAX_EXPANDED_BYTES`], every occurrence of a
//! memo back-reference counted again (so a "billion laughs" of back-references is
//! [`PickleError::TooLarge`]). Nothing recurses without a bound and nothing panics on input.
//!
//! # The mapping
//!
//! | Python | JSON ([`serde_json::Value`]) |
//! |---|---|
//! | `None`, `True`, `False` | `null`, `true`, `false` |
//! | `int` in `i64` or `u64` | an integer |
//! | any other `int` (up to 4300 digits, CPython's own limit) | `{" i": "<decimal digits>"}` |
//! | `float` (not NaN or infinite) | a float |
//! | `str` | a string |
//! | `bytes` | `{" b": "<standard base64>"}` |
//! | `list` | an array |
//! | `tuple` | `{" t": [...]}` |
//! | `set` (of hashable items) | `{" s": [...]}`, in the pickle's order |
//! | `dict` with `str` keys | an object |
//! | a `dict` with one key, which is one of the tags above | `{" di": {"<key>__": value}}` |
//!
//! The tags are Flask's tagged-JSON tags where Flask has them (`" t"`, `" b"`, `" di"`, and
//! the `" di"` escape is Flask's `TagDict`), so any dict round-trips. What the mapping cannot
//! hold is [`PickleError::Unrepresentable`]: a dict with a key that is not a `str`, a NaN or
//! infinite float, a `frozenset` (`FROZENSET`), a `bytearray` (`BYTEARRAY8`), a `str` with a
//! lone surrogate, and a Python 2 `str` (`STRING`) that is not ASCII, which Python 3 itself
//! reads only with an `encoding=`. Protocol-0 arguments are read in the decimal form Python
//! writes them; the odd forms CPython's C unpickler also takes (`I010` as octal, `I 1`) are
//! [`PickleError::Malformed`]. So are bytes after STOP, which Python ignores.
//!
//! ```
//! use serde_json::json;
//! use tessera::interop::pickle::{dumps, loads};
//!
//! # fn main() -> Result<(), tessera::interop::pickle::PickleError> {
//! // pickle.dumps({"cart": (1, 2), "raw": b"\x00"}, 5)
//! let bytes = b"\x80\x05\x95\x1c\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x04cart\x94K\x01K\x02\x86\x94\x8c\x03raw\x94C\x01\x00\x94u.";
//! let value = loads(bytes)?;
//! assert_eq!(value, json!({"cart": {" t": [1, 2]}, "raw": {" b": "AA=="}}));
//! assert_eq!(loads(&dumps(&value)?)?, value);
//! # Ok(())
//! # }
//! ```

mod bigint;
mod dump;
mod error;
mod load;
mod opcodes;
mod value;

#[cfg(test)]
mod python_tests;
#[cfg(test)]
mod tests;

pub use error::{Location, PickleError};

use crate::record::Data;

/// The longest pickle [`loads`] reads: 16 MiB, as
/// [`MAX_SESSION_DATA`](crate::interop::django::MAX_SESSION_DATA).
///
/// ```
/// use tessera::interop::pickle::{loads, PickleError, MAX_PICKLE_BYTES};
///
/// let huge = vec![b'N'; MAX_PICKLE_BYTES + 1];
/// assert!(matches!(loads(&huge), Err(PickleError::TooLarge { .. })));
/// ```
pub const MAX_PICKLE_BYTES: usize = 16 * 1024 * 1024;

/// The deepest [`loads`] and [`dumps`] nest containers (lists, dicts, tuples, sets): 64.
///
/// ```
/// use tessera::interop::pickle::{loads, PickleError, MAX_DEPTH};
///
/// // A list appended to itself: EMPTY_LIST, DUP, APPEND, STOP.
/// assert!(matches!(loads(b"]2a."), Err(PickleError::TooDeep { .. })));
///
/// let mut deep = serde_json::json!(1);
/// for _ in 0..MAX_DEPTH {
///     deep = serde_json::json!([deep]);
/// }
/// assert!(tessera::interop::pickle::dumps(&deep).is_ok());
/// ```
pub const MAX_DEPTH: usize = 64;

/// The most [`loads`] materializes: 32 MiB, counting 32 bytes for every value (the size of a
/// [`serde_json::Value`]) plus the bytes of its text (strings, keys, base64, digits), every
/// occurrence of a shared value again. The same budget bounds the values built while the
/// pickle runs, and the memo's entries (at most one per 32 bytes of it).
///
/// ```
/// use tessera::interop::pickle::{loads, PickleError, MAX_EXPANDED_BYTES};
///
/// // A 1 MiB str, memoized (and popped), then referenced 64 times in a list: 64 MiB of JSON.
/// let mut bomb = b"\x80\x04X\x00\x00\x10\x00".to_vec();
/// bomb.extend(std::iter::repeat(b'a').take(1 << 20));
/// bomb.extend(b"\x940](");
/// bomb.extend(b"h\x00".repeat(64));
/// bomb.extend(b"e.");
/// assert!(bomb.len() < MAX_EXPANDED_BYTES);
/// assert!(matches!(loads(&bomb), Err(PickleError::TooLarge { .. })));
/// ```
pub const MAX_EXPANDED_BYTES: usize = 32 * 1024 * 1024;

/// Reads a pickle of plain data.
///
/// ```
/// use serde_json::json;
/// use tessera::interop::pickle::loads;
///
/// # fn main() -> Result<(), tessera::interop::pickle::PickleError> {
/// // pickle.dumps([1, "a", None, 2**70], 2)
/// let bytes = b"\x80\x02]q\x00(K\x01X\x01\x00\x00\x00aq\x01N\x8a\t\x00\x00\x00\x00\x00\x00\x00\x00@e.";
/// assert_eq!(loads(bytes)?, json!([1, "a", null, {" i": "1180591620717411303424"}]));
/// # Ok(())
/// # }
/// ```
pub fn loads(bytes: &[u8]) -> Result<serde_json::Value, PickleError> {
    value::materialize(&load::run(bytes)?)
}

/// Reads a pickled dict with str keys, what Django and cachelib store, as session data.
///
/// The dict's own keys are taken as they are (they are session keys, so a lone key `" t"` is
/// not escaped as [`loads`] would); its values follow the [mapping](self#the-mapping). Anything
/// but a dict is [`PickleError::NotADict`].
///
/// ```
/// use serde_json::json;
/// use tessera::interop::pickle::loads_dict;
///
/// # fn main() -> Result<(), tessera::interop::pickle::PickleError> {
/// // django.core.cache.backends.redis.RedisSerializer().dumps({"_auth_user_id": "1"})
/// let bytes = b"\x80\x05\x95\x18\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\r_auth_user_id\x94\x8c\x011\x94s.";
/// let data = loads_dict(bytes)?;
/// assert_eq!(data["_auth_user_id"], json!("1"));
/// # Ok(())
/// # }
/// ```
pub fn loads_dict(bytes: &[u8]) -> Result<Data, PickleError> {
    value::materialize_dict(&load::run(bytes)?)
}

/// Pickles a value (protocol 4, no FRAME needed) that Python's `pickle.loads` reads back as the
/// Python value the [mapping](self#the-mapping) gives.
///
/// A tag that holds the wrong thing (`{" b": "not base64"}`, `{" i": "0x10"}`), a set item
/// Python could not hash (a list, a dict, a set) and nesting deeper than [`MAX_DEPTH`] have no
/// pickle form: [`PickleError::NoPickleForm`], [`PickleError::TooDeep`].
///
/// ```
/// use serde_json::json;
/// use tessera::interop::pickle::dumps;
///
/// # fn main() -> Result<(), tessera::interop::pickle::PickleError> {
/// // pickle.loads gives (1, b"\x00") back.
/// assert_eq!(dumps(&json!({" t": [1, {" b": "AA=="}]}))?, b"\x80\x04K\x01C\x01\x00\x86.");
/// assert!(dumps(&json!({" s": [[1]]})).is_err());
/// # Ok(())
/// # }
/// ```
pub fn dumps(value: &serde_json::Value) -> Result<Vec<u8>, PickleError> {
    dump::dumps(value)
}

/// Pickles session data as a dict with str keys, for [`loads_dict`] or Python's `pickle.loads`.
///
/// Its own keys are written as they are (no tag escaping at the top, as in [`loads_dict`]); its
/// values follow [`dumps`].
///
/// ```
/// use serde_json::json;
/// use tessera::interop::pickle::{dumps_dict, loads_dict};
/// use tessera::record::Data;
///
/// # fn main() -> Result<(), tessera::interop::pickle::PickleError> {
/// let mut data = Data::new();
/// data.insert("_session_expiry".into(), json!(300));
/// assert_eq!(loads_dict(&dumps_dict(&data)?)?, data);
/// # Ok(())
/// # }
/// ```
pub fn dumps_dict(data: &Data) -> Result<Vec<u8>, PickleError> {
    dump::dumps_dict(data)
}
