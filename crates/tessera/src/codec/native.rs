//! [`NativeCodec`]: tessera's own record format, [`Record::encode`]'s compact JSON.

use time::OffsetDateTime;

use super::{CodecError, RecordCodec, Versioning};
use crate::interop::Profile;
use crate::record::Record;

/// tessera's own format: `{"d": data, "e": expiry, "x": deadline}` ([`Record::encode`]).
///
/// The bytes carry the whole record, deadline included; a deadline the store keeps beside
/// them (moved by a touch) wins when given. Stores keep a version counter next to them.
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
/// assert_eq!(NativeCodec.encode(&record)?, br#"{"d":{"user":"ada"},"x":1893456000}"#);
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
        for bad in garbage() {
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
