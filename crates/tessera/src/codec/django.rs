//! [`DjangoCodec`]: Django's `session_data`, signed and compressed.

use std::fmt;

use time::OffsetDateTime;

use super::{fallback_deadline, CodecError, RecordCodec};
use crate::clock::{self, SharedClock};
use crate::crypto::KeyRing;
use crate::expiry::ExpiryPolicy;
use crate::interop::django::{decode_session_data, encode_session_data};
use crate::interop::Profile;
use crate::record::Record;

/// Django 5.2's `session_data`, as its db, cached_db and file engines store it:
/// `signing.dumps(dict, salt="django.contrib.sessions.SessionStore", compress=True)`
/// ([`encode_session_data`]), signed with the ring's current key, verified with any of its
/// keys, dated by the codec's clock.
///
/// The session's own expiry is Django's `_session_expiry` (seconds, `0`, or a date) and comes
/// back exactly. The bytes carry no deadline (Django keeps `expire_date` beside them, or the
/// file's mtime) and no version: stores compare a hash of them
/// ([`Versioning::ContentHash`](super::Versioning::ContentHash)). The policy's lifetime is Django's `SESSION_COOKIE_AGE`, the
/// fallback deadline of bytes decoded without a stored one.
///
/// `Debug` shows how many keys the ring holds, never the keys.
///
/// ```
/// use tessera::codec::{DjangoCodec, RecordCodec};
/// use tessera::crypto::{KeyRing, SecretKey};
/// use tessera::{Expiry, ExpiryPolicy, Record};
/// use time::macros::datetime;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let keys = KeyRing::new(SecretKey::new("a Django SECRET_KEY of 32+ bytes...")?);
/// let codec = DjangoCodec::new(keys, ExpiryPolicy::default());
/// let mut data = tessera::Data::new();
/// data.insert("_auth_user_id".into(), "1".into());
/// let record = Record::new(data, Expiry::BrowserClose, datetime!(2030-01-01 0:00 UTC));
/// let bytes = codec.encode(&record)?;
/// assert_eq!(codec.decode(&bytes, Some(record.expires_at))?, record);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DjangoCodec {
    keys: KeyRing,
    policy: ExpiryPolicy,
    clock: SharedClock,
}

impl fmt::Debug for DjangoCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DjangoCodec")
            .field("keys", &self.keys.len())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl DjangoCodec {
    /// A codec signing with `keys` (Django's `SECRET_KEY`, then `SECRET_KEY_FALLBACKS`), the
    /// `SESSION_COOKIE_AGE` in `policy`, dating signatures by the system clock.
    pub fn new(keys: KeyRing, policy: ExpiryPolicy) -> Self {
        Self {
            keys,
            policy,
            clock: clock::system(),
        }
    }

    /// Dates signatures and fallback deadlines by `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }
}

impl RecordCodec for DjangoCodec {
    fn profile(&self) -> Profile {
        Profile::Django
    }

    fn encode(&self, record: &Record) -> Result<Vec<u8>, CodecError> {
        Ok(encode_session_data(&self.keys, record, self.clock.now()).into_bytes())
    }

    fn decode(
        &self,
        bytes: &[u8],
        stored_deadline: Option<OffsetDateTime>,
    ) -> Result<Record, CodecError> {
        let text =
            std::str::from_utf8(bytes).map_err(|e| CodecError::decode(Profile::Django, e))?;
        let mut record = decode_session_data(
            &self.keys,
            text,
            stored_deadline.unwrap_or(OffsetDateTime::UNIX_EPOCH),
        )
        .map_err(|e| CodecError::decode(Profile::Django, e))?;
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
    use crate::crypto::SecretKey;
    use crate::interop::django::LoadError;
    use crate::Expiry;
    use serde_json::Value;
    use std::sync::Arc;
    use time::macros::datetime;
    use time::Duration;

    const AT: OffsetDateTime = datetime!(2030-01-01 0:00 UTC);

    fn ring(secret: &str) -> KeyRing {
        KeyRing::new(SecretKey::new(secret).unwrap())
    }

    #[test]
    fn every_expiry_round_trips() {
        let codec = DjangoCodec::new(ring(&"d".repeat(50)), ExpiryPolicy::default());
        for expiry in every_expiry() {
            let mut data = crate::Data::new();
            data.insert("_auth_user_id".into(), "1".into());
            data.insert("cart".into(), serde_json::json!(["a", {"b": 2}, null]));
            let record = Record::new(data, expiry, AT);
            let bytes = codec.encode(&record).unwrap();
            assert_eq!(
                codec.decode(&bytes, Some(AT)).unwrap(),
                record,
                "{expiry:?}"
            );
        }
        assert!(!codec.carries_deadline());
        assert_eq!(codec.versioning(), crate::codec::Versioning::ContentHash);
    }

    #[test]
    fn the_bytes_are_djangos_session_data() {
        let keys = ring(&"d".repeat(50));
        let now = datetime!(2029-12-01 0:00 UTC);
        let codec = DjangoCodec::new(keys.clone(), ExpiryPolicy::default())
            .with_clock(Arc::new(ManualClock::new(now)));
        let record = Record::new(
            crate::Data::from([("n".into(), Value::from(2))]),
            Expiry::Age(Duration::seconds(60)),
            AT,
        );
        assert_eq!(
            codec.encode(&record).unwrap(),
            encode_session_data(&keys, &record, now).into_bytes()
        );
    }

    #[test]
    fn without_a_stored_deadline_the_expiry_decides() {
        let now = datetime!(2030-01-01 0:00:00.5 UTC);
        let policy = ExpiryPolicy::new(Duration::weeks(2), true);
        let codec = DjangoCodec::new(ring(&"d".repeat(50)), policy)
            .with_clock(Arc::new(ManualClock::new(now)));
        let date = datetime!(2030-03-04 05:06:07 UTC);
        for (expiry, deadline) in [
            (Expiry::Default, datetime!(2030-01-15 0:00 UTC)),
            (Expiry::BrowserClose, datetime!(2030-01-15 0:00 UTC)),
            (
                Expiry::Age(Duration::seconds(300)),
                datetime!(2030-01-01 0:05 UTC),
            ),
            (Expiry::At(date), date),
        ] {
            let bytes = codec
                .encode(&Record::new(Default::default(), expiry, AT))
                .unwrap();
            assert_eq!(
                codec.decode(&bytes, None).unwrap().expires_at,
                deadline,
                "{expiry:?}"
            );
        }
    }

    #[test]
    fn golden_session_data_reads_and_rewrites_byte_for_byte() {
        let g = golden();
        let now = OffsetDateTime::from_unix_timestamp(g["now"].as_i64().unwrap()).unwrap();
        let keys = ring(g["django_secret"].as_str().unwrap())
            .with_fallback(SecretKey::new(g["old_secret"].as_str().unwrap()).unwrap());
        let codec = DjangoCodec::new(keys, ExpiryPolicy::new(Duration::weeks(2), true))
            .with_clock(Arc::new(ManualClock::new(now)));
        let cases = g["django"].as_array().unwrap();
        assert!(!cases.is_empty());
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let stored = case["session_data"].as_str().unwrap();
            let expire_date = now + Duration::weeks(2);
            let record = codec.decode(stored.as_bytes(), Some(expire_date)).unwrap();
            let mut expected: crate::Data = serde_json::from_value(case["data"].clone()).unwrap();
            let expiry = expected.remove(crate::interop::django::EXPIRY_KEY);
            assert_eq!(*record.data, expected, "{name}");
            assert_eq!(
                record.expiry,
                crate::interop::django::expiry_of(expiry.as_ref()),
                "{name}"
            );
            assert_eq!(record.expires_at, expire_date, "{name}");
            assert_eq!(
                codec.encode(&record).unwrap(),
                stored.as_bytes(),
                "{name}: byte for byte"
            );
        }
        // Another project's key does not open them.
        let other = DjangoCodec::new(ring(&"e".repeat(50)), ExpiryPolicy::default());
        let stored = cases[0]["session_data"].as_str().unwrap();
        let err = other.decode(stored.as_bytes(), Some(AT)).unwrap_err();
        let CodecError::Decode { source, .. } = err else {
            panic!("{err:?}");
        };
        assert!(matches!(
            source.downcast_ref::<LoadError>(),
            Some(LoadError::Signature(_))
        ));
    }

    #[test]
    fn garbage_is_an_error() {
        let codec = DjangoCodec::new(ring(&"d".repeat(50)), ExpiryPolicy::default());
        for bad in garbage() {
            assert!(
                matches!(
                    codec.decode(&bad, Some(AT)),
                    Err(CodecError::Decode {
                        profile: Profile::Django,
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_never_shows_keys() {
        let secret = "django-codec-debug-secret-0123456789abcdef";
        let shown = format!(
            "{:?}",
            DjangoCodec::new(ring(secret), ExpiryPolicy::default())
        );
        assert!(!shown.contains(secret), "{shown}");
    }
}
