//! [`PickledCodec`]: the session dict in Python's pickle, as Django's cache engines and
//! Flask-Session's filesystem backend (cachelib) store it.

use time::OffsetDateTime;

use super::{fallback_deadline, CodecError, RecordCodec};
use crate::clock::{self, SharedClock};
use crate::expiry::ExpiryPolicy;
use crate::interop::{django, flask, pickle, Profile};
use crate::record::{Data, Record};

/// pymemcache's flag for a pickled value (`pymemcache.serde.FLAG_PICKLE`), which Django's
/// `PyMemcacheCache` reads back with `pickle.loads`.
pub const PYMEMCACHE_FLAG_PICKLE: u32 = 1;

/// The session dict as `pickle.dumps(dict, HIGHEST_PROTOCOL)`, read and written by tessera's
/// data-only [`pickle`] module: what Django's `cache` engine (and the cache half of
/// `cached_db`) keeps on Redis and memcached with the `django` profile, and what
/// Flask-Session's `filesystem` backend keeps with the `flask-session` profile.
///
/// The dict is the framework's own: Django's with `_session_expiry` when the session's expiry
/// was set ([`django::dict_from_record`]), Flask's with `_permanent`
/// ([`flask::dict_from_record`]). The bytes carry no deadline and no version: stores keep the
/// deadline beside them (a TTL, cachelib's expiry header) and compare a hash of the bytes.
///
/// Only plain data crosses: a pickle that names anything else (a `datetime`, any class) is
/// refused by [`pickle::loads_dict`] and decodes to an error, so a store reports the record as
/// corrupt rather than as empty data that a save would then overwrite.
///
/// ```
/// use tessera::codec::{PickledCodec, RecordCodec};
/// use tessera::{Expiry, ExpiryPolicy, Profile, Record};
/// use time::macros::datetime;
///
/// # fn main() -> Result<(), tessera::codec::CodecError> {
/// let codec = PickledCodec::new(Profile::Django, ExpiryPolicy::default())?;
/// let mut data = tessera::Data::new();
/// data.insert("_auth_user_id".into(), "1".into());
/// let record = Record::new(data, Expiry::Default, datetime!(2030-01-01 0:00 UTC));
/// let bytes = codec.encode(&record)?;
/// assert_eq!(&bytes[..2], b"\x80\x04"); // pickle protocol 4
/// assert_eq!(codec.decode(&bytes, Some(record.expires_at))?, record);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PickledCodec {
    profile: Profile,
    policy: ExpiryPolicy,
    clock: SharedClock,
}

impl PickledCodec {
    /// A codec for `profile`'s session dict (`django` or `flask-session`), reading Flask's
    /// `_permanent` against `policy` and dating fallback deadlines by the system clock.
    ///
    /// # Errors
    ///
    /// [`CodecError::NoServerFormat`] for a profile that stores no pickle (`native`, `flask`).
    pub fn new(profile: Profile, policy: ExpiryPolicy) -> Result<Self, CodecError> {
        match profile {
            Profile::Django | Profile::FlaskSession => Ok(Self {
                profile,
                policy,
                clock: clock::system(),
            }),
            _ => Err(CodecError::NoServerFormat { profile }),
        }
    }

    /// Dates fallback deadlines (a record decoded without a stored one) by `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    fn dict(&self, record: &Record) -> Data {
        match self.profile {
            Profile::FlaskSession => flask::dict_from_record(record, self.policy),
            _ => django::dict_from_record(record),
        }
    }

    fn record(&self, data: Data, expires_at: OffsetDateTime) -> Record {
        match self.profile {
            Profile::FlaskSession => flask::record_from_dict(data, self.policy, expires_at),
            _ => django::record_from_dict(data, expires_at),
        }
    }
}

impl RecordCodec for PickledCodec {
    fn profile(&self) -> Profile {
        self.profile
    }

    fn encode(&self, record: &Record) -> Result<Vec<u8>, CodecError> {
        pickle::dumps_dict(&self.dict(record)).map_err(|e| CodecError::encode(self.profile, e))
    }

    fn decode(
        &self,
        bytes: &[u8],
        stored_deadline: Option<OffsetDateTime>,
    ) -> Result<Record, CodecError> {
        let data = pickle::loads_dict(bytes).map_err(|e| CodecError::decode(self.profile, e))?;
        let mut record = self.record(data, stored_deadline.unwrap_or(OffsetDateTime::UNIX_EPOCH));
        if stored_deadline.is_none() {
            record.expires_at = fallback_deadline(self.policy, record.expiry, self.clock.now());
        }
        Ok(record)
    }

    fn memcached_flags(&self) -> u32 {
        PYMEMCACHE_FLAG_PICKLE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::tests::{every_expiry, garbage};
    use crate::Expiry;
    use serde_json::json;
    use time::macros::datetime;
    use time::Duration;

    const AT: OffsetDateTime = datetime!(2030-01-01 0:00 UTC);

    fn data(value: serde_json::Value) -> Data {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn only_the_pickling_profiles_have_it() {
        for profile in [Profile::Native, Profile::Flask] {
            assert!(matches!(
                PickledCodec::new(profile, ExpiryPolicy::default()),
                Err(CodecError::NoServerFormat { .. })
            ));
        }
        for profile in [Profile::Django, Profile::FlaskSession] {
            let codec = PickledCodec::new(profile, ExpiryPolicy::default()).unwrap();
            assert_eq!(codec.profile(), profile);
            assert_eq!(codec.memcached_flags(), PYMEMCACHE_FLAG_PICKLE);
            assert_eq!(codec.versioning(), crate::codec::Versioning::ContentHash);
            assert!(!codec.carries_deadline());
        }
    }

    #[test]
    fn the_bytes_are_the_frameworks_dict_pickled() {
        let policy = ExpiryPolicy::new(Duration::days(31), true);
        let record = Record::new(
            data(json!({"user": "ada", "cart": {" t": [1, 2]}})),
            Expiry::Age(Duration::seconds(300)),
            AT,
        );
        let django = PickledCodec::new(Profile::Django, policy).unwrap();
        assert_eq!(
            pickle::loads_dict(&django.encode(&record).unwrap()).unwrap(),
            django::dict_from_record(&record)
        );
        let flask = PickledCodec::new(Profile::FlaskSession, policy).unwrap();
        let dict = pickle::loads_dict(&flask.encode(&record).unwrap()).unwrap();
        assert_eq!(dict, flask::dict_from_record(&record, policy));
        assert_eq!(dict.get(flask::PERMANENT_KEY), Some(&json!(true)));
    }

    #[test]
    fn every_expiry_round_trips_as_the_framework_keeps_it() {
        let policy = ExpiryPolicy::new(Duration::days(14), true);
        for expiry in every_expiry() {
            let record = Record::new(data(json!({"n": 1})), expiry, AT);
            let django = PickledCodec::new(Profile::Django, policy).unwrap();
            let back = django
                .decode(&django.encode(&record).unwrap(), Some(AT))
                .unwrap();
            // Django keeps a date to the whole second, as its JSON session data does.
            let expected = django::record_from_dict(django::dict_from_record(&record), AT);
            assert_eq!(back, expected, "{expiry:?}");
            let flask = PickledCodec::new(Profile::FlaskSession, policy).unwrap();
            let back = flask
                .decode(&flask.encode(&record).unwrap(), Some(AT))
                .unwrap();
            assert_eq!(back.data, record.data);
            assert_eq!(
                policy.at_browser_close(back.expiry),
                policy.at_browser_close(expiry)
            );
        }
    }

    #[test]
    fn without_a_stored_deadline_the_policy_gives_one() {
        let now = datetime!(2030-01-01 0:00:00.5 UTC);
        let codec = PickledCodec::new(Profile::Django, ExpiryPolicy::new(Duration::hours(1), true))
            .unwrap()
            .with_clock(std::sync::Arc::new(crate::clock::ManualClock::new(now)));
        let bytes = codec
            .encode(&Record::new(Data::new(), Expiry::Default, AT))
            .unwrap();
        assert_eq!(
            codec.decode(&bytes, None).unwrap().expires_at,
            datetime!(2030-01-01 1:00 UTC)
        );
    }

    #[test]
    fn what_is_not_plain_data_is_an_error_never_an_empty_session() {
        let codec = PickledCodec::new(Profile::Django, ExpiryPolicy::default()).unwrap();
        // pickle.dumps({"at": datetime.datetime(2030, 1, 1)}, 4), whose datetime is a GLOBAL.
        let datetime = b"\x80\x04\x952\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x02at\x94\x8c\x08datetime\x94\x8c\x08datetime\x94\x93\x94C\n\x07\xee\x01\x01\x00\x00\x00\x00\x00\x00\x94\x85\x94R\x94s.";
        let err = codec.decode(datetime, Some(AT)).unwrap_err();
        let CodecError::Decode {
            profile: Profile::Django,
            source,
        } = err
        else {
            panic!("{err:?}");
        };
        let offset = datetime.iter().position(|&b| b == 0x93).unwrap();
        assert!(
            matches!(
                source.downcast_ref::<pickle::PickleError>(),
                Some(pickle::PickleError::Refused { opcode: "STACK_GLOBAL", offset: at }) if *at == offset
            ),
            "{source}"
        );
        for bad in garbage() {
            match codec.decode(&bad, Some(AT)) {
                Ok(_) | Err(CodecError::Decode { .. }) => {}
                Err(other) => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
