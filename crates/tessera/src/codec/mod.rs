//! Record codecs: how a [`Record`] becomes the bytes a store keeps, and back.
//!
//! A profile's server-side format is a [`RecordCodec`]; a store (where the bytes live: Redis,
//! memcached, MongoDB, …) holds one and never branches on the profile itself. A new format is
//! one codec, usable by every store that can keep its bytes.
//!
//! | profile | codec | bytes | versions |
//! |---|---|---|---|
//! | `native` | [`NativeCodec`] | [`Record::encode`]'s binary record (a version byte, then MessagePack), deadline included; reads the compact JSON of earlier releases too | [`Versioning::Counter`] |
//! | `flask-session` | [`FlaskSessionCodec`] | Flask-Session 0.8's msgpack dict, `_permanent` included | [`Versioning::ContentHash`] |
//! | `django` | [`DjangoCodec`] | Django's signed, compressed `session_data` | [`Versioning::ContentHash`] |
//! | `django`, `flask-session` | [`PickledCodec`] | the session dict in Python's pickle (Django's cache engines, Flask-Session's `filesystem`) | [`Versioning::ContentHash`] |
//!
//! The `flask` profile is Flask's cookie session only and has no record codec:
//! [`for_profile`] refuses it. [`for_profile`] gives a profile's codec for databases; where a
//! framework pickles instead ([`Backend::pickles`](crate::store::Backend::pickles)),
//! [`OpenOptions::codec_for`](crate::store::OpenOptions::codec_for) gives the [`PickledCodec`].
//!
//! ```
//! use tessera::codec::{self, Versioning};
//! use tessera::{Expiry, ExpiryPolicy, Profile, Record};
//! use time::macros::datetime;
//!
//! # fn main() -> Result<(), tessera::codec::CodecError> {
//! let codec = codec::for_profile(
//!     Profile::FlaskSession,
//!     ExpiryPolicy::default(),
//!     None,
//!     tessera::clock::system(),
//! )?;
//! let mut data = tessera::Data::new();
//! data.insert("user".into(), "ada".into());
//! let record = Record::new(data, Expiry::Default, datetime!(2030-01-01 0:00 UTC));
//! let bytes = codec.encode(&record)?;
//! // Flask-Session's bytes carry no deadline: the store gives the one it keeps (a TTL, …).
//! assert_eq!(codec.decode(&bytes, Some(record.expires_at))?, record);
//! assert_eq!(codec.versioning(), Versioning::ContentHash);
//! # Ok(()) }
//! ```

pub mod django;
pub mod flask_session;
pub mod native;
pub mod pickled;

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

pub use django::DjangoCodec;
pub use flask_session::FlaskSessionCodec;
pub use native::NativeCodec;
pub use pickled::PickledCodec;

use crate::clock::SharedClock;
use crate::crypto::KeyRing;
use crate::expiry::{Expiry, ExpiryPolicy};
use crate::id::{RandomError, SessionId};
use crate::interop::Profile;
use crate::record::Record;

/// How a profile's records become the bytes a store keeps, and back.
///
/// Object-safe: stores hold an `Arc<dyn RecordCodec>` ([`SharedCodec`]). A store decides where
/// the bytes live, under which key, with which deadline beside them; the codec decides only
/// what the bytes are.
///
/// ```
/// use tessera::codec::{NativeCodec, RecordCodec};
/// use tessera::{Expiry, Record};
/// use time::macros::datetime;
///
/// # fn main() -> Result<(), tessera::codec::CodecError> {
/// let record = Record::new(Default::default(), Expiry::Default, datetime!(2030-01-01 0:00 UTC));
/// let bytes = NativeCodec.encode(&record)?;
/// assert_eq!(NativeCodec.decode(&bytes, None)?, record);
/// // A deadline the store keeps beside the bytes (moved by a touch) wins over the encoded one.
/// let moved = datetime!(2030-02-01 0:00 UTC);
/// assert_eq!(NativeCodec.decode(&bytes, Some(moved))?.expires_at, moved);
/// # Ok(()) }
/// ```
pub trait RecordCodec: fmt::Debug + Send + Sync + 'static {
    /// The profile whose format this is.
    fn profile(&self) -> Profile;

    /// The bytes a store keeps for `record`.
    fn encode(&self, record: &Record) -> Result<Vec<u8>, CodecError>;

    /// The record in `bytes`. `stored_deadline` is the deadline the store keeps beside the
    /// bytes (a Redis TTL, a SQL column, a MongoDB date), if it keeps one. A format that
    /// carries its own deadline ([`carries_deadline`](Self::carries_deadline)) takes the stored
    /// one only when given; a format without one takes it, or else the policy's deadline for
    /// the session as if saved now, to the whole second.
    fn decode(
        &self,
        bytes: &[u8],
        stored_deadline: Option<OffsetDateTime>,
    ) -> Result<Record, CodecError>;

    /// How conditional writes tell versions of these bytes apart; by default a hash of the
    /// bytes, for formats that carry no version (Python's).
    fn versioning(&self) -> Versioning {
        Versioning::ContentHash
    }

    /// Whether the bytes carry the record's deadline themselves (the native record's `x`), so a
    /// store whose own deadline is approximate (memcached's whole seconds) may prefer it; by
    /// default they do not (Python's formats keep it beside the bytes).
    fn carries_deadline(&self) -> bool {
        false
    }

    /// The client flags a memcached store sets beside these bytes: how Python's memcached
    /// client (pymemcache) reads them back. By default 0, plain bytes; a pickle is 1.
    fn memcached_flags(&self) -> u32 {
        0
    }

    /// A new session id in the profile's form ([`Profile::generate_id`]).
    fn generate_id(&self) -> Result<SessionId, RandomError> {
        self.profile().generate_id()
    }

    /// Whether the profile's stores take `id` as a key ([`Profile::accepts_id`]).
    fn accepts_id(&self, id: &SessionId) -> bool {
        self.profile().accepts_id(id)
    }
}

/// A shared, type-erased codec: what stores hold.
pub type SharedCodec = Arc<dyn RecordCodec>;

/// How a store's conditional writes tell versions of a codec's bytes apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Versioning {
    /// The layout is tessera's own: the store may keep a version counter next to the bytes
    /// and compare it.
    Counter,
    /// The layout is a foreign framework's, whose records carry no version: the store adds
    /// nothing the framework does not expect, and a conditional write compares a hash of the
    /// stored bytes.
    ContentHash,
}

/// A record could not be encoded or decoded, or a profile has no codec.
///
/// `Display` says what failed; the format's own error is [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The bytes are not a record in the profile's format.
    #[error("the bytes are not a {profile} session record")]
    Decode {
        /// The codec's profile.
        profile: Profile,
        /// Why they could not be read.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The record cannot be written in the profile's format.
    #[error("the session record cannot be written in the {profile} format")]
    Encode {
        /// The codec's profile.
        profile: Profile,
        /// Why not.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The profile keeps sessions in the cookie only and has no server-side format.
    #[error(
        "the {profile} profile keeps sessions in the cookie only (SESSION_URL=cookie) and has \
         no server-side record format; Flask-Session's stores are the flask-session profile"
    )]
    NoServerFormat {
        /// The profile.
        profile: Profile,
    },
    /// The profile's format is signed and no secret key was given.
    #[error(
        "the {profile} profile's records are signed (Django's session_data): set SECRET_KEY \
         (and SECRET_KEY_FALLBACKS) to the Django project's"
    )]
    MissingKeys {
        /// The profile.
        profile: Profile,
    },
}

impl CodecError {
    /// A [`CodecError::Decode`] for `profile` caused by `source`.
    pub fn decode(
        profile: Profile,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Decode {
            profile,
            source: source.into(),
        }
    }

    /// A [`CodecError::Encode`] for `profile` caused by `source`.
    pub fn encode(
        profile: Profile,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Encode {
            profile,
            source: source.into(),
        }
    }

    /// The format's own error for a [`Decode`](Self::Decode) or [`Encode`](Self::Encode), the
    /// error itself otherwise. Stores put it under their own error, which already names the
    /// session and what failed.
    pub fn into_source(self) -> Box<dyn std::error::Error + Send + Sync> {
        match self {
            Self::Decode { source, .. } | Self::Encode { source, .. } => source,
            other => Box::new(other),
        }
    }
}

/// The codec of `profile`'s server-side format.
///
/// `policy` is what formats that keep only a permanence flag (Flask's `_permanent`) read it
/// against, and the fallback deadline of formats without one; `keys` sign formats that are
/// signed (Django's); `clock` dates signatures and fallback deadlines. Refuses the `flask`
/// profile, whose sessions live in the cookie, and the `django` profile without `keys`.
///
/// ```
/// use tessera::codec::{self, CodecError};
/// use tessera::{ExpiryPolicy, Profile};
///
/// let clock = tessera::clock::system();
/// let native = codec::for_profile(Profile::Native, ExpiryPolicy::default(), None, clock.clone());
/// assert_eq!(native.map(|c| c.profile()).ok(), Some(Profile::Native));
/// let flask = codec::for_profile(Profile::Flask, ExpiryPolicy::default(), None, clock);
/// assert!(matches!(flask, Err(CodecError::NoServerFormat { .. })));
/// ```
pub fn for_profile(
    profile: Profile,
    policy: ExpiryPolicy,
    keys: Option<&KeyRing>,
    clock: SharedClock,
) -> Result<SharedCodec, CodecError> {
    match profile {
        Profile::Native => Ok(Arc::new(NativeCodec)),
        Profile::FlaskSession => Ok(Arc::new(FlaskSessionCodec::new(policy).with_clock(clock))),
        Profile::Django => {
            let keys = keys.ok_or(CodecError::MissingKeys { profile })?;
            Ok(Arc::new(
                DjangoCodec::new(keys.clone(), policy).with_clock(clock),
            ))
        }
        Profile::Flask => Err(CodecError::NoServerFormat { profile }),
    }
}

/// The deadline of a record decoded without one: the policy's for `expiry` as if saved `now`,
/// to the whole second.
fn fallback_deadline(policy: ExpiryPolicy, expiry: Expiry, now: OffsetDateTime) -> OffsetDateTime {
    let at = policy.deadline(expiry, now);
    at.replace_nanosecond(0).unwrap_or(at)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use serde_json::Value;
    use std::error::Error as _;
    use time::macros::datetime;
    use time::Duration;

    /// The golden vectors Flask, Flask-Session and Django made (`tests/data/golden.json`).
    pub(crate) fn golden() -> Value {
        serde_json::from_str(include_str!("../../tests/data/golden.json")).unwrap()
    }

    /// Every expiry a session can have.
    pub(crate) fn every_expiry() -> [Expiry; 5] {
        [
            Expiry::Default,
            Expiry::BrowserClose,
            Expiry::Age(Duration::seconds(300)),
            Expiry::At(datetime!(2031-01-02 03:04:05 UTC)),
            Expiry::At(datetime!(2031-01-02 03:04:05.25 UTC)),
        ]
    }

    /// Bytes no codec should take for a record: empty, truncated, random.
    pub(crate) fn garbage() -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = [
            &b""[..],
            b"\x00",
            b"\xff\xfe\xfd",
            b"null",
            b"[1,2,3]",
            b"\x93\x01\x02\x03",
            b"\xc1",
            b"\xdf\xff\xff\xff\xff",
            b"{\"d\":",
            b"abc:def:ghi",
        ]
        .iter()
        .map(|b| b.to_vec())
        .collect();
        // A fixed xorshift stream: the same "random" bytes on every run.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 1..64 {
            let bytes = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()[0]
                })
                .collect();
            out.push(bytes);
        }
        out
    }

    #[test]
    fn every_server_profile_has_a_codec() {
        let clock = crate::clock::system();
        let keys = KeyRing::new(SecretKey::new("k".repeat(40)).unwrap());
        for (profile, versioning) in [
            (Profile::Native, Versioning::Counter),
            (Profile::FlaskSession, Versioning::ContentHash),
            (Profile::Django, Versioning::ContentHash),
        ] {
            let codec =
                for_profile(profile, ExpiryPolicy::default(), Some(&keys), clock.clone()).unwrap();
            assert_eq!(codec.profile(), profile);
            assert_eq!(codec.versioning(), versioning);
        }
    }

    #[test]
    fn profiles_without_a_server_format_say_why() {
        let clock = crate::clock::system();
        let flask = for_profile(Profile::Flask, ExpiryPolicy::default(), None, clock.clone())
            .unwrap_err()
            .to_string();
        assert!(
            flask.contains("cookie") && flask.contains("flask-session"),
            "{flask}"
        );
        let django = for_profile(Profile::Django, ExpiryPolicy::default(), None, clock)
            .unwrap_err()
            .to_string();
        assert!(django.contains("SECRET_KEY"), "{django}");
    }

    #[test]
    fn errors_keep_their_source_without_repeating_it() {
        let cause = std::io::Error::other("the cause's own words");
        let err = CodecError::decode(Profile::FlaskSession, cause);
        assert!(!err.to_string().contains("own words"), "{err}");
        assert_eq!(err.source().unwrap().to_string(), "the cause's own words");
        assert_eq!(err.into_source().to_string(), "the cause's own words");
        let err = CodecError::NoServerFormat {
            profile: Profile::Flask,
        };
        let shown = err.to_string();
        assert_eq!(err.into_source().to_string(), shown);
    }

    #[test]
    fn ids_follow_the_profile() {
        let keys = KeyRing::new(SecretKey::new("k".repeat(40)).unwrap());
        let django = DjangoCodec::new(keys, ExpiryPolicy::default());
        let id = django.generate_id().unwrap();
        assert_eq!(id.expose().len(), 32);
        assert!(django.accepts_id(&id));
        let native = NativeCodec.generate_id().unwrap();
        assert!(!django.accepts_id(&native));
        assert!(NativeCodec.accepts_id(&native) && NativeCodec.accepts_id(&id));
    }
}
