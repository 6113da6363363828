//! Flask-Session 0.8's server-side records: msgpack (as msgspec writes it) under
//! `SESSION_KEY_PREFIX` + id, and the id cookie, signed with the salt `flask-session` when
//! `SESSION_USE_SIGNER` is on.
//!
//! msgpack values map to JSON values one to one, except two that JSON lacks: binary data
//! becomes `{" b": "<base64>"}` (the tag Flask's cookie session uses for bytes) and extension
//! values, such as msgspec's datetimes, `{" x": [type, "<base64>"]}`. Both are written back as
//! they came. Records in Python's pickle format (Flask-Session before 0.7 on these stores) are
//! refused: only the `filesystem` backend's pickles are read
//! ([`PickledCodec`](crate::codec::PickledCodec)).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rmpv::Value as Msgpack;
use serde_json::{Map, Number, Value};

use super::itsdangerous::ItsSigner;
use crate::crypto::{KeyRing, SignatureError};
use crate::id::SessionId;
use crate::record::Data;

/// The salt Flask-Session signs session ids with.
pub const ID_SALT: &[u8] = b"flask-session";
/// The key Flask keeps the permanent flag under.
pub const PERMANENT_KEY: &str = super::flask::PERMANENT_KEY;
/// The deepest nesting decoded.
const MAX_DEPTH: usize = 64;

/// A stored record could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Python's pickle: what Flask-Session wrote before 0.7. Not read as msgpack.
    #[error("the record is in Python's pickle format, written by Flask-Session before 0.7; tessera reads Flask-Session 0.8's msgpack on this store (run Flask-Session 0.8 once over these sessions, or let them expire)")]
    Pickle,
    /// Not msgpack, or not a map of string keys.
    #[error("the record is not a Flask-Session msgpack map: {0}")]
    Malformed(String),
}

/// The record Flask-Session 0.8 stores for `data` (which holds `_permanent` as Flask keeps it).
///
/// ```
/// use tessera::interop::flask_session::{decode_record, encode_record};
///
/// let data: tessera::Data = serde_json::from_str(r#"{"_permanent": true, "user": "ada"}"#).unwrap();
/// let bytes = encode_record(&data);
/// assert_eq!(bytes[0], 0x82); // a msgpack map of two entries
/// assert_eq!(decode_record(&bytes).unwrap(), data);
/// ```
pub fn encode_record(data: &Data) -> Vec<u8> {
    let map = Msgpack::Map(
        data.iter()
            .map(|(k, v)| (Msgpack::from(k.as_str()), to_msgpack(v)))
            .collect(),
    );
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, &map);
    out
}

/// Reads a record Flask-Session 0.8 stored.
pub fn decode_record(bytes: &[u8]) -> Result<Data, RecordError> {
    // Pickle protocols 2 to 5 start with PROTO (0x80) and the protocol number; msgpack's 0x80
    // is an empty map and has nothing after it.
    if bytes.len() > 1 && bytes[0] == 0x80 && (2..=5).contains(&bytes[1]) {
        return Err(RecordError::Pickle);
    }
    let mut reader = bytes;
    let value = rmpv::decode::read_value_with_max_depth(&mut reader, MAX_DEPTH)
        .map_err(|e| RecordError::Malformed(e.to_string()))?;
    if !reader.is_empty() {
        return Err(RecordError::Malformed("trailing bytes".into()));
    }
    let Msgpack::Map(entries) = value else {
        return Err(RecordError::Malformed("not a map".into()));
    };
    entries
        .into_iter()
        .map(|(k, v)| match k {
            Msgpack::String(s) => s
                .into_str()
                .map(|k| (k, to_json(v)))
                .ok_or_else(|| RecordError::Malformed("a key is not UTF-8".into())),
            _ => Err(RecordError::Malformed("a key is not a string".into())),
        })
        .collect()
}

fn to_json(v: Msgpack) -> Value {
    match v {
        Msgpack::Nil => Value::Null,
        Msgpack::Boolean(b) => Value::Bool(b),
        Msgpack::Integer(i) => i
            .as_i64()
            .map(Value::from)
            .or_else(|| i.as_u64().map(Value::from))
            .unwrap_or(Value::Null),
        Msgpack::F32(f) => Number::from_f64(f64::from(f)).map_or(Value::Null, Value::Number),
        Msgpack::F64(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Msgpack::String(s) => match s.into_str() {
            Some(s) => Value::String(s),
            None => Value::Null,
        },
        Msgpack::Binary(b) => tagged(" b", Value::String(STANDARD.encode(b))),
        Msgpack::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Msgpack::Map(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Msgpack::String(s) => s.into_str().unwrap_or_default(),
                        other => other.to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Msgpack::Ext(kind, bytes) => tagged(
            " x",
            Value::Array(vec![
                Value::from(kind),
                Value::String(STANDARD.encode(bytes)),
            ]),
        ),
    }
}

fn tagged(tag: &str, value: Value) -> Value {
    let mut map = Map::new();
    map.insert(tag.to_owned(), value);
    Value::Object(map)
}

fn to_msgpack(v: &Value) -> Msgpack {
    match v {
        Value::Null => Msgpack::Nil,
        Value::Bool(b) => Msgpack::Boolean(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Msgpack::from(u)
            } else if let Some(i) = n.as_i64() {
                Msgpack::from(i)
            } else {
                Msgpack::F64(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => Msgpack::from(s.as_str()),
        Value::Array(items) => Msgpack::Array(items.iter().map(to_msgpack).collect()),
        Value::Object(map) => {
            if let Some(bytes) = untag_binary(map) {
                return Msgpack::Binary(bytes);
            }
            if let Some((kind, bytes)) = untag_ext(map) {
                return Msgpack::Ext(kind, bytes);
            }
            Msgpack::Map(
                map.iter()
                    .map(|(k, v)| (Msgpack::from(k.as_str()), to_msgpack(v)))
                    .collect(),
            )
        }
    }
}

fn only<'a>(map: &'a Map<String, Value>, tag: &str) -> Option<&'a Value> {
    (map.len() == 1).then(|| map.get(tag)).flatten()
}

fn untag_binary(map: &Map<String, Value>) -> Option<Vec<u8>> {
    STANDARD.decode(only(map, " b")?.as_str()?).ok()
}

fn untag_ext(map: &Map<String, Value>) -> Option<(i8, Vec<u8>)> {
    let Value::Array(pair) = only(map, " x")? else {
        return None;
    };
    let [kind, bytes] = pair.as_slice() else {
        return None;
    };
    let kind = i8::try_from(kind.as_i64()?).ok()?;
    Some((kind, STANDARD.decode(bytes.as_str()?).ok()?))
}

/// `at` as the naive UTC timestamp Flask-Session's SQL and MongoDB backends store
/// (`datetime.utcnow()`), in the text form SQLAlchemy gives SQLite's `DATETIME`:
/// `YYYY-MM-DD HH:MM:SS.ffffff`, to the whole second.
///
/// ```
/// use time::OffsetDateTime;
/// use tessera::interop::flask_session::{naive_utc, parse_naive_utc};
///
/// let at = OffsetDateTime::from_unix_timestamp(1_767_323_045).unwrap();
/// assert_eq!(naive_utc(at), "2026-01-02 03:04:05.000000");
/// assert_eq!(parse_naive_utc("2026-01-02 03:04:05.999"), Some(at));
/// ```
pub fn naive_utc(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.000000",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// A naive UTC timestamp as Python writes it (`YYYY-MM-DD HH:MM:SS[.ffffff]`, or with a `T`),
/// truncated to the second; `None` if it is not one.
pub fn parse_naive_utc(text: &str) -> Option<time::OffsetDateTime> {
    let (date, clock) = text.trim().split_once([' ', 'T'])?;
    let mut d = date.splitn(3, '-');
    let year: i32 = d.next()?.parse().ok()?;
    let month: u8 = d.next()?.parse().ok()?;
    let day: u8 = d.next()?.parse().ok()?;
    let whole = clock.split('.').next()?;
    let mut c = whole.splitn(3, ':');
    let hour: u8 = c.next()?.parse().ok()?;
    let minute: u8 = c.next()?.parse().ok()?;
    let second: u8 = c.next()?.parse().ok()?;
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
    let clock = time::Time::from_hms(hour, minute, second).ok()?;
    Some(time::PrimitiveDateTime::new(date, clock).assume_utc())
}

/// A new id as Flask-Session makes them: `secrets.token_urlsafe(32)`, 43 characters.
pub fn generate_id() -> Result<SessionId, crate::id::RandomError> {
    // 32 random bytes in unpadded URL-safe base64 is exactly token_urlsafe(32).
    SessionId::generate()
}

/// The id cookie's value with `SESSION_USE_SIGNER` on: `id.signature`.
pub fn sign_id(keys: &KeyRing, id: &SessionId) -> String {
    ItsSigner::new(keys, ID_SALT).sign(id.expose())
}

/// The id in a signed id cookie, and whether a fallback key verified it.
pub fn unsign_id(keys: &KeyRing, value: &str) -> Result<(SessionId, bool), SignatureError> {
    let (id, rotated) = ItsSigner::new(keys, ID_SALT).unsign(value)?;
    let id = SessionId::parse(id).map_err(|_| SignatureError::Mismatch)?;
    Ok((id, rotated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binary_and_extensions_survive() {
        let data: Data = serde_json::from_value(json!({
            "b": {" b": STANDARD.encode([0u8, 255])},
            "x": {" x": [-1, STANDARD.encode([1u8, 2, 3, 4])]},
            "n": [1, -1, 300, -300, 70000, 1.5, null, "s"],
        }))
        .unwrap();
        let bytes = encode_record(&data);
        assert_eq!(decode_record(&bytes).unwrap(), data);
    }

    #[test]
    fn pickle_and_garbage_are_refused() {
        let pickled = b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.";
        assert!(matches!(decode_record(pickled), Err(RecordError::Pickle)));
        assert!(decode_record(&[0x80]).unwrap().is_empty());
        assert!(
            decode_record(b"\x93\x01\x02\x03").is_err(),
            "an array, not a map"
        );
        assert!(decode_record(b"\x81\x01\x02").is_err(), "an integer key");
        assert!(decode_record(b"\xc1").is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut bytes = vec![0x81, 0xa1, b'k'];
        bytes.extend(std::iter::repeat_n(0x91, 100_000));
        bytes.push(0xc0);
        assert!(decode_record(&bytes).is_err());
    }
}
