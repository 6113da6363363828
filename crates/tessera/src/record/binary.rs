//! The binary form of a record: a version byte, then MessagePack of the JSON form's fields.

use std::fmt;

use serde::de::{Deserializer as _, Visitor};
use serde::{Deserialize as _, Serialize};

use super::{Cause, DecodeError, WireIn, WireOut};

/// The first byte of [`Record::encode`](super::Record::encode)'s binary records, format
/// version 1. No JSON text starts with it (a JSON record starts with `{`), so
/// [`Record::decode`](super::Record::decode) tells the two apart; a later binary format takes
/// the next byte.
pub const BINARY_V1: u8 = 0x01;

/// serde_json's default recursion limit, so both forms refuse the same nesting.
const MAX_DEPTH: usize = 128;

/// `wire` as a binary record; `None` only if MessagePack cannot hold it (a string or map
/// past 4 GiB), which the JSON form can.
pub(super) fn encode(wire: &WireOut<'_>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    out.push(BINARY_V1);
    // A map keyed by field name, not a positional array: fields that are absent stay absent,
    // and a later version can add some that this one skips.
    let mut serializer = rmp_serde::Serializer::new(&mut out).with_struct_map();
    wire.serialize(&mut serializer).ok()?;
    Some(out)
}

/// The fields of a binary record, `bytes` being what follows its version byte.
pub(super) fn decode(bytes: &[u8]) -> Result<WireIn, DecodeError> {
    let binary = |e| DecodeError(Cause::Binary(e));
    // Borrowing the input (strings are copied once, into the record) rather than reading it
    // through `io::Read`, which copies each string twice: half the instructions on large
    // sessions.
    let mut deserializer = rmp_serde::Deserializer::from_read_ref(bytes);
    deserializer.set_max_depth(MAX_DEPTH);
    let wire = WireIn::deserialize(&mut deserializer).map_err(binary)?;
    // That reader does not say how much it read, so look for the start of another value: at
    // the end of the input there is no marker to read.
    match deserializer.deserialize_any(Nothing) {
        Err(rmp_serde::decode::Error::InvalidMarkerRead(e))
            if e.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            Ok(wire)
        }
        _ => Err(DecodeError(Cause::Trailing)),
    }
}

/// A visitor that takes nothing: any value is an error, found without reading past its
/// marker (or past a string's bytes).
struct Nothing;

impl<'de> Visitor<'de> for Nothing {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the end of the record")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use time::macros::datetime;
    use time::Duration;

    use super::BINARY_V1;
    use crate::expiry::Expiry;
    use crate::record::{Data, Meta, Record};

    const AT: time::OffsetDateTime = datetime!(2030-01-01 0:00 UTC);

    fn round_trip(record: &Record) -> Record {
        let bytes = record.encode();
        assert_eq!(bytes[0], BINARY_V1);
        Record::decode(&bytes).unwrap()
    }

    fn data(value: Value) -> Data {
        match value {
            Value::Object(map) => map.into_iter().collect(),
            _ => unreachable!("the tests pass objects"),
        }
    }

    #[test]
    fn the_bytes_are_a_version_byte_then_a_msgpack_map() {
        let record = Record::new(data(json!({"user": "ada"})), Expiry::Default, AT);
        let mut expected = vec![BINARY_V1, 0x82, 0xa1, b'd', 0x81, 0xa4];
        expected.extend(b"user\xa3ada\xa1x\xce");
        expected.extend(1_893_456_000_u32.to_be_bytes());
        assert_eq!(record.encode(), expected);
    }

    #[test]
    fn every_expiry_and_meta_field_round_trips() {
        let meta = Meta {
            user: Some("42".into()),
            created: Some(AT - Duration::hours(2)),
            seen: Some(AT - Duration::minutes(1)),
            agent: Some("Firefox".into()),
            client: Some("192.0.2.7".into()),
        };
        let partial = Meta {
            seen: Some(AT),
            ..Meta::default()
        };
        for expiry in [
            Expiry::Default,
            Expiry::BrowserClose,
            Expiry::Age(Duration::seconds(5)),
            Expiry::Age(Duration::seconds(-5)),
            Expiry::At(datetime!(2031-01-01 0:00 UTC)),
            Expiry::At(datetime!(1969-12-31 23:59 UTC)),
        ] {
            for meta in [Meta::default(), partial.clone(), meta.clone()] {
                let r = Record::new(data(json!({"n": 3})), expiry, AT).with_meta(meta);
                assert_eq!(round_trip(&r), r, "{expiry:?}");
            }
        }
    }

    #[test]
    fn json_values_keep_their_types() {
        let d = data(json!({
            "one_float": 1.0,
            "minus_zero": -0.0,
            "zero_int": 0,
            "big_u64": u64::MAX,
            "min_i64": i64::MIN,
            "max_i64": i64::MAX,
            "past_i64": (i64::MAX as u64) + 1,
            "tiny": 5e-324,
            "float": 123_456.789,
            "big_float": 1e300,
            "null": null,
            "yes": true,
            "no": false,
            "": "",
            "ключ ✓ 🔑": "значение",
            "nested": [[1, [2.0, []]], {"a": {"b": [null, {}]}}, "", {"": 0}],
        }));
        let r = Record::new(d.clone(), Expiry::Default, AT);
        let back = round_trip(&r);
        assert_eq!(back, r);
        // Value's equality does not tell 1 from 1.0 apart, nor -0.0 from 0.0.
        let json_back = |v: &Value| serde_json::to_string(v).unwrap();
        for (key, value) in &d {
            assert_eq!(json_back(&back.data[key]), json_back(value), "{key}");
        }
        assert!(back.data["one_float"].is_f64());
        assert!(back.data["minus_zero"].as_f64().unwrap().is_sign_negative());
        assert_eq!(back.data["big_u64"].as_u64(), Some(u64::MAX));
        assert_eq!(back.data["min_i64"].as_i64(), Some(i64::MIN));
        assert!(back.data["zero_int"].is_u64());
        // The same record decodes the same from either form.
        assert_eq!(Record::decode(&r.encode_json()).unwrap(), back);
    }

    #[test]
    fn a_json_record_written_before_still_loads() {
        let old = br#"{"d":{"f":1.0,"n":-3,"s":"\u00e9"},"e":{"age":300},"x":1893456000,"u":"42","c":1893448800}"#;
        let record = Record::decode(old).unwrap();
        assert_eq!(record.expiry, Expiry::Age(Duration::seconds(300)));
        assert_eq!(record.meta.user.as_deref(), Some("42"));
        assert!(record.data["f"].is_f64());
        assert_eq!(record.data["s"], "é");
        // Written again, it is binary, and reads back the same.
        assert_eq!(round_trip(&record), record);
    }

    #[test]
    fn garbage_and_truncated_records_are_errors() {
        let meta = Meta {
            user: Some("42".into()),
            agent: Some("Firefox".into()),
            ..Meta::default()
        };
        let r = Record::new(
            data(json!({"k": [1, 2.5, "x", {"y": null}]})),
            Expiry::At(AT),
            AT,
        )
        .with_meta(meta);
        let bytes = r.encode();
        for len in 0..bytes.len() {
            assert!(Record::decode(&bytes[..len]).is_err(), "cut at {len}");
        }
        // Whatever follows the record, a value or a part of one, is refused.
        for tail in [
            &[0x00][..],
            &[0x91],
            &[0x91, 0x01],
            &[0xc1],
            &[0xd9],
            &[0xa3, b'a'],
            &[0xc0],
        ] {
            let mut trailing = bytes.clone();
            trailing.extend_from_slice(tail);
            assert!(Record::decode(&trailing).is_err(), "{tail:x?}");
        }
        for bad in [
            &[BINARY_V1][..],
            &[BINARY_V1, 0xc0],
            &[BINARY_V1, 0xc1],
            &[BINARY_V1, 0x90],
            &[BINARY_V1, 0x80],
            // {"d": {1: 2}, "x": 0}: a key that is not a string.
            &[
                BINARY_V1, 0x82, 0xa1, b'd', 0x81, 0x01, 0x02, 0xa1, b'x', 0x00,
            ],
            // {"d": {"k": bin8 "ab"}, "x": 0}: bytes are not a JSON value.
            &[
                BINARY_V1, 0x82, 0xa1, b'd', 0x81, 0xa1, b'k', 0xc4, 0x02, b'a', b'b', 0xa1, b'x',
                0x00,
            ],
            // A string claiming 4 GiB in a few bytes.
            &[
                BINARY_V1, 0x81, 0xa1, b'd', 0x81, 0xdb, 0xff, 0xff, 0xff, 0xff,
            ],
            // A map claiming 4 billion entries.
            &[BINARY_V1, 0xdf, 0xff, 0xff, 0xff, 0xff],
            // Invalid UTF-8 in a key.
            &[BINARY_V1, 0x81, 0xa1, 0xff, 0x00],
            &[0x02, 0x80],
            &[0xff],
        ] {
            assert!(Record::decode(bad).is_err(), "{bad:x?}");
        }
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_stack_overflow() {
        // {"d": {"k": [[[[…]]]]}, "x": 0}, a million arrays deep, in a few bytes per level.
        let mut bytes = vec![BINARY_V1, 0x82, 0xa1, b'd', 0x81, 0xa1, b'k'];
        bytes.resize(bytes.len() + 1_000_000, 0x91);
        bytes.push(0xc0);
        bytes.extend([0xa1, b'x', 0x00]);
        assert!(Record::decode(&bytes).is_err());
    }

    #[test]
    fn both_forms_refuse_the_same_depth() {
        fn nested(depth: usize) -> Value {
            (0..depth).fold(Value::Null, |v, _| Value::Array(vec![v]))
        }
        // The record's map and `d` are two levels; serde_json stops at 128.
        for (depth, ok) in [(125, true), (126, false)] {
            let r = Record::new(data(json!({"k": nested(depth)})), Expiry::Default, AT);
            assert_eq!(Record::decode(&r.encode()).is_ok(), ok, "binary, {depth}");
            assert_eq!(
                Record::decode(&r.encode_json()).is_ok(),
                ok,
                "JSON, {depth}"
            );
        }
    }
}
