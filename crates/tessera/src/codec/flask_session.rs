//! [`FlaskSessionCodec`]: Flask-Session 0.8's records, the session dict in msgpack.

use time::OffsetDateTime;

use super::{fallback_deadline, CodecError, RecordCodec};
use crate::clock::{self, SharedClock};
use crate::expiry::ExpiryPolicy;
use crate::interop::{flask, flask_session, Profile};
use crate::record::Record;

/// Flask-Session 0.8's format: the session dict in msgpack (as msgspec writes it), Flask's
/// `_permanent` flag included ([`flask_session::encode_record`] of
/// [`flask::dict_from_record`]), what a Flask app with `SESSION_TYPE="redis"`, `"memcached"`,
/// `"mongodb"` or `"sqlalchemy"` stores.
///
/// The bytes keep only whether the session is permanent, read against the policy (Flask's
/// `SESSION_PERMANENT` and `PERMANENT_SESSION_LIFETIME`): a session with an age or a date
/// comes back as a permanent one. They carry no deadline and no version: stores keep the
/// deadline beside them and compare a hash of them ([`Versioning::ContentHash`](super::Versioning::ContentHash)). Records in
/// Python's pickle (Flask-Session before 0.7) are refused.
///
/// ```
/// use tessera::codec::{FlaskSessionCodec, RecordCodec};
/// use tessera::{Expiry, ExpiryPolicy, Record};
/// use time::macros::datetime;
///
/// # fn main() -> Result<(), tessera::codec::CodecError> {
/// let codec = FlaskSessionCodec::new(ExpiryPolicy::default());
/// let mut data = tessera::Data::new();
/// data.insert("user".into(), "ada".into());
/// let record = Record::new(data, Expiry::Default, datetime!(2030-01-01 0:00 UTC));
/// let bytes = codec.encode(&record)?;
/// assert_eq!(bytes[0], 0x82); // {"_permanent": true, "user": "ada"}
/// assert_eq!(codec.decode(&bytes, Some(record.expires_at))?, record);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FlaskSessionCodec {
    policy: ExpiryPolicy,
    clock: SharedClock,
}

impl FlaskSessionCodec {
    /// A codec reading `_permanent` against `policy`, dating fallback deadlines by the system
    /// clock.
    pub fn new(policy: ExpiryPolicy) -> Self {
        Self {
            policy,
            clock: clock::system(),
        }
    }

    /// Dates fallback deadlines (a record decoded without a stored one) by `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The policy `_permanent` is read against.
    pub fn policy(&self) -> ExpiryPolicy {
        self.policy
    }
}

impl RecordCodec for FlaskSessionCodec {
    fn profile(&self) -> Profile {
        Profile::FlaskSession
    }

    fn encode(&self, record: &Record) -> Result<Vec<u8>, CodecError> {
        Ok(flask_session::encode_record(&flask::dict_from_record(
            record,
            self.policy,
        )))
    }

    fn decode(
        &self,
        bytes: &[u8],
        stored_deadline: Option<OffsetDateTime>,
    ) -> Result<Record, CodecError> {
        let data = flask_session::decode_record(bytes)
            .map_err(|e| CodecError::decode(Profile::FlaskSession, e))?;
        let mut record = flask::record_from_dict(
            data,
            self.policy,
            stored_deadline.unwrap_or(OffsetDateTime::UNIX_EPOCH),
        );
        if stored_deadline.is_none() {
            record.expires_at = fallback_deadline(self.policy, record.expiry, self.clock.now());
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::codec::tests::{every_expiry, garbage, golden};
    use crate::interop::flask_session::RecordError;
    use crate::Expiry;
    use base64::Engine as _;
    use std::sync::Arc;
    use time::macros::datetime;
    use time::Duration;

    const AT: OffsetDateTime = datetime!(2030-01-01 0:00 UTC);

    fn b64(text: &serde_json::Value) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(text.as_str().unwrap())
            .unwrap()
    }

    #[test]
    fn every_expiry_round_trips_as_flask_keeps_it() {
        let lifetime = Duration::days(31);
        for permanent_by_default in [true, false] {
            let policy = ExpiryPolicy::new(lifetime, permanent_by_default);
            let codec = FlaskSessionCodec::new(policy);
            // Flask keeps a permanence flag, nothing more: what each expiry comes back as.
            let permanent = if permanent_by_default {
                Expiry::Default
            } else {
                Expiry::Age(lifetime)
            };
            let browser = if permanent_by_default {
                Expiry::BrowserClose
            } else {
                Expiry::Default
            };
            for expiry in every_expiry() {
                let mut data = crate::Data::new();
                data.insert("user".into(), "ada".into());
                let record = Record::new(data, expiry, AT);
                let bytes = codec.encode(&record).unwrap();
                assert_eq!(
                    bytes,
                    flask_session::encode_record(&flask::dict_from_record(&record, policy)),
                    "the bytes are Flask-Session's"
                );
                let back = codec.decode(&bytes, Some(AT)).unwrap();
                let expected = if policy.at_browser_close(expiry) {
                    browser
                } else {
                    permanent
                };
                assert_eq!(back.expiry, expected, "{expiry:?}, {policy:?}");
                assert_eq!((back.data, back.expires_at), (record.data, AT));
                // Encoding what was decoded gives the same bytes.
                assert_eq!(
                    codec.encode(&codec.decode(&bytes, None).unwrap()).unwrap(),
                    bytes
                );
            }
        }
    }

    #[test]
    fn without_a_stored_deadline_the_lifetime_counts_from_now() {
        let now = datetime!(2030-01-01 0:00:00.75 UTC);
        let clock = ManualClock::new(now);
        let codec = FlaskSessionCodec::new(ExpiryPolicy::new(Duration::hours(2), true))
            .with_clock(Arc::new(clock));
        let bytes = codec
            .encode(&Record::new(Default::default(), Expiry::BrowserClose, AT))
            .unwrap();
        let back = codec.decode(&bytes, None).unwrap();
        assert_eq!(back.expires_at, datetime!(2030-01-01 2:00 UTC));
        assert!(!codec.carries_deadline());
        assert_eq!(codec.versioning(), crate::codec::Versioning::ContentHash);
    }

    #[test]
    fn golden_records_read_and_rewrite_byte_for_byte() {
        let g = golden();
        let fs = &g["flask_session"];
        for permanent_by_default in [true, false] {
            let policy = ExpiryPolicy::new(Duration::days(31), permanent_by_default);
            let codec = FlaskSessionCodec::new(policy);
            for case in fs["records"].as_array().unwrap() {
                let name = case["name"].as_str().unwrap();
                let bytes = b64(&case["record_b64"]);
                let record = codec.decode(&bytes, Some(AT)).unwrap();
                assert!(!record.data.contains_key(flask::PERMANENT_KEY), "{name}");
                assert_eq!(
                    codec.encode(&record).unwrap(),
                    bytes,
                    "{name}: byte for byte"
                );
            }
            let login = codec
                .decode(&b64(&fs["records"][0]["record_b64"]), Some(AT))
                .unwrap();
            assert!(!policy.at_browser_close(login.expiry), "login is permanent");
            let pickle = codec.decode(&b64(&fs["pickle_b64"]), Some(AT)).unwrap_err();
            let CodecError::Decode { source, .. } = pickle else {
                panic!("{pickle:?}");
            };
            assert!(matches!(
                source.downcast_ref::<RecordError>(),
                Some(RecordError::Pickle)
            ));
        }
    }

    #[test]
    fn garbage_is_an_error() {
        let codec = FlaskSessionCodec::new(ExpiryPolicy::default());
        for bad in garbage() {
            // A few short byte strings are valid msgpack maps (0x80 is `{}`); none may panic.
            match codec.decode(&bad, Some(AT)) {
                Ok(_)
                | Err(CodecError::Decode {
                    profile: Profile::FlaskSession,
                    ..
                }) => {}
                Err(other) => panic!("{bad:?}: {other:?}"),
            }
        }
        for bad in [
            &b""[..],
            b"\xc1",
            b"\x93\x01\x02\x03",
            b"\x81\x01\x02",
            b"null",
        ] {
            assert!(codec.decode(bad, Some(AT)).is_err(), "{bad:?}");
        }
    }
}
