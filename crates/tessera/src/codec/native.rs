//! [`NativeCodec`]: tessera's own record format, [`Record::encode`]'s binary record.

use time::OffsetDateTime;

use super::{CodecError, RecordCodec, Versioning};
use crate::interop::Profile;
use crate::record::Record;

/// tessera's own format: the version byte [`BINARY_V1`](crate::record::BINARY_V1), then
/// MessagePack of `{"d": data, "e": expiry, "x": deadline, …}` ([`Record::encode`]).
///
/// The bytes carry the whole record, deadline included; a deadline the store keeps beside
/// them (moved by a touch) wins when given. Stores keep a version counter next to them.
/// Decoding also takes the compact JSON every tessera release wrote before the binary form
/// ([`Record::encode_json`]), told apart by its first byte, so stored sessions keep loading and
/// are rewritten in the binary form at their next save. Releases before the binary form cannot
/// read it: upgrade every process that shares a store before one of them saves.
///
/// ```
/// use tessera::codec::{NativeCodec, RecordCodec};
/// use tessera::{Expiry, Record};
/// use time::macros::datetime;
///
/// # fn main() -> Result<(), tessera::codec::CodecError> {
/// let mut data = tessera::Data::new();
/// data.insert("user".into(), "ada".into());
/// let record = Record::new(data, Expiry::Default, datetime!(2030-01-01 0:00 UTC));
/// let bytes = NativeCodec.encode(&record)?;
/// assert_eq!(bytes[0], tessera::record::BINARY_V1);
/// assert_eq!(NativeCodec.decode(&bytes, None)?, record);
/// // A record stored as JSON, before the binary form, still loads.
/// let old = br#"{"d":{"user":"ada"},"x":1893456000}"#;
/// assert_eq!(NativeCodec.decode(old, None)?, record);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeCodec;

impl RecordCodec for NativeCodec {
    fn profile(&self) -> Profile {
        Profile::Native
    }

    fn encode(&self, record: &Record) -> Result<Vec<u8>, CodecError> {
        Ok(record.encode())
    }

    fn decode(
        &self,
        bytes: &[u8],
        stored_deadline: Option<OffsetDateTime>,
    ) -> Result<Record, CodecError> {
        let mut record =
            Record::decode(bytes).map_err(|e| CodecError::decode(Profile::Native, e))?;
        if let Some(deadline) = stored_deadline {
            record.expires_at = deadline;
        }
        Ok(record)
    }

    fn versioning(&self) -> Versioning {
        Versioning::Counter
    }

    fn carries_deadline(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::tests::{every_expiry, garbage};
    use time::macros::datetime;

    fn record(expiry: crate::Expiry) -> Record {
        let mut data = crate::Data::new();
        data.insert("n".into(), 3.into());
        data.insert(
            "nested".into(),
            serde_json::json!({"a": [1, 2, null], "é": "✓"}),
        );
        Record::new(data, expiry, datetime!(2030-01-01 0:00 UTC))
    }

    #[test]
    fn every_expiry_round_trips() {
        for expiry in every_expiry() {
            let r = record(expiry);
            let bytes = NativeCodec.encode(&r).unwrap();
            assert_eq!(bytes, r.encode(), "the bytes are Record::encode's");
            assert_eq!(bytes[0], crate::record::BINARY_V1);
            let back = NativeCodec.decode(&bytes, None).unwrap();
            // The encoding keeps whole seconds.
            let expected = match expiry {
                crate::Expiry::At(at) => {
                    record(crate::Expiry::At(at.replace_nanosecond(0).unwrap()))
                }
                _ => r,
            };
            assert_eq!(back, expected, "{expiry:?}");
        }
    }

    #[test]
    fn json_records_still_load() {
        for expiry in every_expiry() {
            let r = record(expiry).with_meta(crate::record::Meta {
                user: Some("42".into()),
                created: Some(datetime!(2029-12-31 0:00 UTC)),
                seen: Some(datetime!(2029-12-31 23:59 UTC)),
                agent: Some("Firefox".into()),
                client: Some("192.0.2.7".into()),
            });
            let json = r.encode_json();
            assert_eq!(json[0], b'{');
            let from_json = NativeCodec.decode(&json, None).unwrap();
            let from_binary = NativeCodec.decode(&NativeCodec.encode(&r).unwrap(), None);
            assert_eq!(from_json, from_binary.unwrap(), "{expiry:?}");
        }
    }

    #[test]
    fn a_stored_deadline_wins() {
        let r = record(crate::Expiry::Default);
        let bytes = NativeCodec.encode(&r).unwrap();
        let moved = datetime!(2030-06-01 12:00 UTC);
        let back = NativeCodec.decode(&bytes, Some(moved)).unwrap();
        assert_eq!(back.expires_at, moved);
        assert_eq!(back.data, r.data);
        assert!(NativeCodec.carries_deadline());
        assert_eq!(NativeCodec.versioning(), Versioning::Counter);
    }

    #[test]
    fn garbage_is_an_error() {
        let binary = [
            &b"\x01"[..],
            b"\x01\x80",
            b"\x01\x81\xa1d",
            b"\x01\x82\xa1d\x80\xa1x",
            b"\x01{\"d\":{},\"x\":0}",
        ];
        for bad in garbage().into_iter().chain(binary.map(<[u8]>::to_vec)) {
            assert!(
                matches!(
                    NativeCodec.decode(&bad, None),
                    Err(CodecError::Decode {
                        profile: Profile::Native,
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }
}
