//! Server-side stores: the [`SessionStore`] trait every store implements, its [`Error`], and
//! [`open`] to pick a store from a URL.
//!
//! A store keeps [`Record`]s by [`SessionId`] and knows nothing of HTTP. Each store module sits
//! behind the cargo feature of the same name.

pub mod cached;
#[cfg(feature = "file")]
pub mod django_file;
#[cfg(feature = "file")]
pub mod file;
#[cfg(feature = "memcached")]
pub mod memcached;
#[cfg(feature = "memory")]
pub mod memory;
#[cfg(feature = "mongodb")]
pub mod mongodb;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub mod sql;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::clock::SharedClock;
use crate::crypto::KeyRing;
use crate::expiry::ExpiryPolicy;
use crate::id::SessionId;
use crate::interop::Profile;
use crate::record::{Record, Version};

/// A record as loaded, with the version a conditional write must name.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The record.
    pub record: Record,
    /// Its version.
    pub version: Version,
}

/// The precondition of a [`SessionStore::save`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Create the record; fail if a record with this id exists.
    Absent,
    /// Replace the record only if it is still at this version.
    Version(Version),
}

/// What a [`SessionStore::save`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Saved {
    /// The record was written; this is its new version.
    Written(Version),
    /// The precondition failed: the record was created, changed or deleted meanwhile.
    Conflict,
}

/// Where sessions live on the server.
///
/// The trait is object-safe (`Arc<dyn SessionStore>` is what the middleware holds) and small:
/// five operations. Every write is conditional, so no store loses an update when two requests
/// on one session race: [`save`](Self::save) names the [`Version`] it loaded, or
/// [`Expected::Absent`] for a new session, and a store answers [`Saved::Conflict`] when the
/// stored record no longer matches. The middleware then reloads, re-applies its request's
/// changes and tries again.
///
/// Rules every store follows (the conformance suite checks them):
/// - `load` never returns a record whose `expires_at` has passed, even if it is still stored;
/// - `save` of a record whose `expires_at` has passed is a delete;
/// - a record that cannot be decoded is [`Error::Corrupt`], never a panic;
/// - `touch` moves the deadline without rewriting the data and without changing the version;
/// - every operation finishes or fails within the store's own timeout.
///
/// ```
/// # #[cfg(feature = "memory")]
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::{memory::MemoryStore, Expected, Saved, SessionStore};
/// use tessera::{Expiry, Record, SessionId};
/// use time::{Duration, OffsetDateTime};
///
/// let store = MemoryStore::new(10_000);
/// let id = SessionId::generate()?;
/// let record = Record::new(Default::default(), Expiry::Default, OffsetDateTime::now_utc() + Duration::hours(1));
/// let Saved::Written(v1) = store.save(&id, &record, Expected::Absent).await? else { unreachable!() };
/// assert_eq!(store.load(&id).await?.map(|l| l.version), Some(v1));
/// assert_eq!(store.save(&id, &record, Expected::Absent).await?, Saved::Conflict);
/// # Ok(()) }
/// ```
#[async_trait]
pub trait SessionStore: fmt::Debug + Send + Sync + 'static {
    /// The record stored under `id`, if any and not expired.
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error>;

    /// Writes `record` under `id` if `expected` still holds.
    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error>;

    /// Removes the record; removing an absent record is not an error.
    async fn delete(&self, id: &SessionId) -> Result<(), Error>;

    /// Moves the record's deadline to `expires_at` without rewriting it; false if absent.
    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error>;

    /// Removes expired records and returns how many; stores whose server expires records
    /// itself return 0.
    async fn clear_expired(&self) -> Result<u64, Error>;

    /// Loads `id` from the source of truth, bypassing any cache in front of it. The
    /// middleware calls it after a conflicting save, when a cached copy is known to be
    /// behind; stores without a cache keep this default.
    async fn reload(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        self.load(id).await
    }

    /// Whose format the store keeps records in ([`Profile::Native`] unless it was opened for
    /// another profile); the middleware refuses a store whose profile differs from the
    /// configuration's.
    fn profile(&self) -> Profile {
        Profile::Native
    }

    /// Whether a live record is stored under `id` (Django's `exists`).
    async fn exists(&self, id: &SessionId) -> Result<bool, Error> {
        Ok(self.load(id).await?.is_some())
    }

    /// The bound this store enforces on each of its operations itself, if it does: an
    /// operation not done by then fails with [`Error::Timeout`]. The middleware arms no timer
    /// of its own around a store whose bound is within the configured store timeout, which
    /// spares a timer registration per store call. `None` (the default) keeps the middleware's
    /// timer.
    fn bounded_by(&self) -> Option<std::time::Duration> {
        None
    }
}

/// A shared, type-erased store.
pub type SharedStore = Arc<dyn SessionStore>;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store could not be reached, or its server refused the operation.
    #[error("the session store is unavailable during {op}")]
    Unavailable {
        /// The operation (`load`, `save`, …).
        op: &'static str,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store did not answer in time.
    #[error("the session store did not answer {op} within {after:?}")]
    Timeout {
        /// The operation.
        op: &'static str,
        /// The timeout that passed.
        after: std::time::Duration,
    },
    /// The stored record is not a session this profile can read.
    #[error("the stored record for session {id} is corrupt")]
    Corrupt {
        /// The session (redacted in `Display`).
        id: SessionId,
        /// Why it could not be decoded.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The record is larger than the store accepts.
    #[error("the session record is {size} bytes, over the store's limit of {limit}")]
    TooLarge {
        /// The record's encoded size.
        size: usize,
        /// The store's limit.
        limit: usize,
    },
    /// The store URL is malformed or names an unknown scheme.
    #[error("cannot open session store {url:?}: {reason}")]
    BadUrl {
        /// The URL, with any password removed.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The URL names a store whose cargo feature is not enabled.
    #[error("the {scheme:?} session store needs tessera's cargo feature `{feature}`; enabled stores: {enabled}")]
    FeatureDisabled {
        /// The URL scheme.
        scheme: String,
        /// The feature to enable.
        feature: &'static str,
        /// The schemes this build supports.
        enabled: String,
    },
    /// The store's format cannot keep a session under this id (Django's stores take only
    /// keys Django would make).
    #[error("the session store refuses the id {id}: {reason}")]
    RefusedId {
        /// The session (redacted in `Display`).
        id: SessionId,
        /// Which ids the store takes.
        reason: &'static str,
    },
    /// The session id could not be generated.
    #[error(transparent)]
    Random(#[from] crate::id::RandomError),
}

impl Error {
    /// An [`Error::Unavailable`] for `op` caused by `source`.
    pub fn unavailable(
        op: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Unavailable {
            op,
            source: source.into(),
        }
    }

    /// An [`Error::Corrupt`] for `id` caused by `source`.
    pub fn corrupt(
        id: &SessionId,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Corrupt {
            id: id.clone(),
            source: source.into(),
        }
    }
}

/// The [`Error::Corrupt`] for stored bytes a codec could not decode: its source is the
/// format's own error, as the store's message already names the session.
#[cfg(any(
    feature = "redis",
    feature = "memcached",
    feature = "mongodb",
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite"
))]
pub(crate) fn undecodable(id: &SessionId, error: crate::codec::CodecError) -> Error {
    Error::corrupt(id, error.into_source())
}

/// The error for a record a codec could not encode. No codec fails today; until the store
/// error has a variant of its own for it, it is [`Error::Corrupt`] with the codec's error
/// (which says the record cannot be written) as its source.
#[cfg(any(
    feature = "redis",
    feature = "memcached",
    feature = "mongodb",
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite"
))]
pub(crate) fn unencodable(id: &SessionId, error: crate::codec::CodecError) -> Error {
    Error::corrupt(id, error)
}

/// What [`open`] passes to a store besides its URL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OpenOptions {
    /// The clock stores that judge expiry themselves use.
    pub clock: SharedClock,
    /// What stores put before the id in their keys (`SESSION_KEY_PREFIX`).
    pub key_prefix: String,
    /// The bound on connecting and on every operation (`SESSION_STORE_TIMEOUT_MS`).
    pub timeout: std::time::Duration,
    /// Whose format to keep records in (`SESSION_PROFILE`); stores refuse profiles they do not
    /// support.
    pub profile: Profile,
    /// The expiry policy, for formats that keep a session's permanence in its data (Flask's
    /// `_permanent`) and for Django's file engine (`SESSION_COOKIE_AGE`).
    pub policy: ExpiryPolicy,
    /// The secret key ring (`SECRET_KEY`, `SECRET_KEY_FALLBACKS`), for formats that sign what
    /// they store (Django's `session_data`). `Debug` shows no key material.
    pub keys: Option<KeyRing>,
    /// The session cookie's name (`SESSION_COOKIE_NAME`): Django's file engine names its
    /// files after it.
    pub cookie_name: String,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            clock: crate::clock::system(),
            key_prefix: "session:".to_owned(),
            timeout: crate::config::DEFAULT_STORE_TIMEOUT,
            profile: Profile::Native,
            policy: ExpiryPolicy::default(),
            keys: None,
            cookie_name: "session".to_owned(),
        }
    }
}

impl OpenOptions {
    /// Sets the key prefix.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Sets the clock.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the profile, and the policy its format needs.
    pub fn with_profile(mut self, profile: Profile, policy: ExpiryPolicy) -> Self {
        self.profile = profile;
        self.policy = policy;
        self
    }

    /// Sets the secret key ring signed formats need.
    pub fn with_keys(mut self, keys: KeyRing) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Sets the session cookie's name.
    pub fn with_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// Sets the timeout.
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The record codec of `profile`, resolved once with the policy, keys and clock
    /// ([`codec::for_profile`](crate::codec::for_profile)): what a store turns records into
    /// bytes with.
    ///
    /// ```
    /// use tessera::store::OpenOptions;
    /// use tessera::{ExpiryPolicy, Profile};
    ///
    /// # fn main() -> Result<(), tessera::codec::CodecError> {
    /// let options = OpenOptions::default().with_profile(Profile::FlaskSession, ExpiryPolicy::default());
    /// assert_eq!(options.codec()?.profile(), Profile::FlaskSession);
    /// # Ok(()) }
    /// ```
    pub fn codec(&self) -> Result<crate::codec::SharedCodec, crate::codec::CodecError> {
        crate::codec::for_profile(
            self.profile,
            self.policy,
            self.keys.as_ref(),
            self.clock.clone(),
        )
    }

    /// The options a [`SessionConfig`](crate::SessionConfig) implies.
    pub fn from_config(config: &crate::SessionConfig) -> Self {
        Self {
            clock: config.clock().clone(),
            key_prefix: config.key_prefix().to_owned(),
            timeout: config.store_timeout(),
            profile: config.profile(),
            policy: config.policy(),
            keys: config.keys().cloned(),
            cookie_name: config.cookie().name().to_owned(),
        }
    }
}

/// A server-side store's URL scheme, the cargo feature it needs, and whether it is built in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SchemeInfo {
    pub(crate) scheme: &'static str,
    pub(crate) feature: &'static str,
    pub(crate) enabled: bool,
}

/// Every server-side scheme tessera knows, enabled or not.
pub(crate) const SCHEMES: &[SchemeInfo] = &[
    SchemeInfo {
        scheme: "memory",
        feature: "memory",
        enabled: cfg!(feature = "memory"),
    },
    SchemeInfo {
        scheme: "redis",
        feature: "redis",
        enabled: cfg!(feature = "redis"),
    },
    SchemeInfo {
        scheme: "rediss",
        feature: "redis",
        enabled: cfg!(feature = "redis"),
    },
    SchemeInfo {
        scheme: "redis+cluster",
        feature: "redis",
        enabled: cfg!(feature = "redis"),
    },
    SchemeInfo {
        scheme: "rediss+cluster",
        feature: "redis",
        enabled: cfg!(feature = "redis"),
    },
    SchemeInfo {
        scheme: "memcached",
        feature: "memcached",
        enabled: cfg!(feature = "memcached"),
    },
    SchemeInfo {
        scheme: "file",
        feature: "file",
        enabled: cfg!(feature = "file"),
    },
    SchemeInfo {
        scheme: "postgres",
        feature: "postgres",
        enabled: cfg!(feature = "postgres"),
    },
    SchemeInfo {
        scheme: "postgresql",
        feature: "postgres",
        enabled: cfg!(feature = "postgres"),
    },
    SchemeInfo {
        scheme: "mysql",
        feature: "mysql",
        enabled: cfg!(feature = "mysql"),
    },
    SchemeInfo {
        scheme: "mariadb",
        feature: "mysql",
        enabled: cfg!(feature = "mysql"),
    },
    SchemeInfo {
        scheme: "sqlite",
        feature: "sqlite",
        enabled: cfg!(feature = "sqlite"),
    },
    SchemeInfo {
        scheme: "mongodb",
        feature: "mongodb",
        enabled: cfg!(feature = "mongodb"),
    },
];

/// Opens the server-side store a URL names.
///
/// | URL | store | feature |
/// |---|---|---|
/// | `memory` or `memory://?capacity=100000` | [`memory::MemoryStore`] | `memory` |
/// | `redis://[user:password@]host[:port][/db]` | [`redis::RedisStore`] | `redis` |
/// | `rediss://…` (TLS) | [`redis::RedisStore`] | `redis` |
/// | `redis+cluster://host:port,host:port,…` (or `rediss+cluster://`) | [`redis::RedisStore`] on a Redis Cluster | `redis` |
/// | `memcached://host[:port][?pool=4&max_value=BYTES]` | [`memcached::MemcachedStore`] | `memcached` |
/// | `file:///path/to/dir[?threshold=500]` | [`file::FileStore`] | `file` |
/// | `postgres://user:pw@host:5432/db` (or `postgresql://`) | [`sql::PostgresStore`] | `postgres` |
/// | `mysql://user:pw@host:3306/db` (or `mariadb://`) | [`sql::MySqlStore`] | `mysql` |
/// | `sqlite://sessions.db`, `sqlite:///abs/path.db`, `sqlite::memory:` | [`sql::SqliteStore`] | `sqlite` |
/// | `mongodb://host:27017/db` | [`mongodb::MongoStore`] | `mongodb` |
///
/// Every store takes `options`' key prefix and timeout; those that judge expiry themselves
/// (memory, file, SQL, MongoDB) take its clock. To put a cache in front of a database, open
/// both and wrap them in a [`cached::CachedStore`] (or set `SESSION_CACHE_URL`, see
/// [`crate::Storage::from_config`]).
///
/// With the `django` profile (`options.profile`), `postgres://…`, `mysql://…` and `sqlite:…` URLs open a
/// [`sql::DjangoDbStore`] on Django's `django_session` table and `file:///dir` a
/// [`django_file::DjangoFileStore`] in Django's `SESSION_FILE_PATH` layout; both need
/// `options.keys`. Other stores refuse the profile (Django's cache engines store pickle).
///
/// SQL URLs take `?table=` (default `tessera_sessions`), `?migrate=false` and
/// `?max_connections=`; PostgreSQL also `?schema=`. MongoDB URLs take `?collection=` (default
/// `sessions`) and `?migrate=false`; the database is the URL's path (default `tessera`, or
/// `flask_session` with the `flask-session` profile, whose SQL table defaults to `sessions`).
/// Other parameters go to the database driver. Stores opened here take the clock, key prefix,
/// timeout and profile from `options`.
///
/// Cookie sessions (`cookie`, `cookie+signed`, `cookie+encrypted`) are not stores: open them
/// with [`crate::Storage::open`], which accepts every URL this function does.
///
/// ```
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::{open, OpenOptions};
///
/// let store = open("memory://?capacity=1000", &OpenOptions::default()).await?;
/// # let _ = store; Ok(()) }
/// ```
pub async fn open(url: &str, options: &OpenOptions) -> Result<SharedStore, Error> {
    let scheme = url.split(':').next().unwrap_or_default();
    let info = SCHEMES.iter().find(|s| s.scheme == scheme);
    match info {
        Some(info) if info.feature == "file" && options.profile == Profile::FlaskSession => {
            Err(Error::BadUrl {
                url: redact_url(url),
                reason: format!(
                    "Flask-Session 0.8's filesystem backend (cachelib's FileSystemCache) stores \
                     each session as a pickled Python dict, and tessera never unpickles; move \
                     the Flask app to a backend that stores msgpack ({})",
                    profile_stores(Profile::FlaskSession)
                ),
            })
        }
        Some(info)
            if options.profile != Profile::Native && !supports(info.feature, options.profile) =>
        {
            Err(Error::BadUrl {
                url: redact_url(url),
                reason: format!(
                    "the {} store does not keep the {} profile's format yet; stores that do: {}",
                    info.feature,
                    options.profile,
                    profile_stores(options.profile)
                ),
            })
        }
        Some(info) if !info.enabled => Err(Error::FeatureDisabled {
            scheme: scheme.to_owned(),
            feature: info.feature,
            enabled: enabled_schemes(),
        }),
        #[cfg(feature = "memory")]
        Some(info) if info.scheme == "memory" => Ok(Arc::new(
            memory::MemoryStore::from_url(url)?.with_clock(options.clock.clone()),
        )),
        #[cfg(feature = "redis")]
        Some(info) if info.feature == "redis" => {
            Ok(Arc::new(redis::RedisStore::connect(url, options).await?))
        }
        #[cfg(feature = "memcached")]
        Some(info) if info.scheme == "memcached" => Ok(Arc::new(
            memcached::MemcachedStore::connect(url, options).await?,
        )),
        #[cfg(feature = "file")]
        Some(info) if info.scheme == "file" && options.profile == Profile::Django => Ok(Arc::new(
            django_file::DjangoFileStore::open(url, options).await?,
        )),
        #[cfg(feature = "file")]
        Some(info) if info.scheme == "file" => {
            Ok(Arc::new(file::FileStore::open(url, options).await?))
        }
        #[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
        Some(info)
            if options.profile == Profile::Django
                && matches!(info.feature, "postgres" | "mysql" | "sqlite") =>
        {
            Ok(Arc::new(sql::DjangoDbStore::open(url, options).await?))
        }
        #[cfg(feature = "postgres")]
        Some(info) if info.feature == "postgres" => Ok(Arc::new(
            sql::PostgresStore::builder(url)?
                .options(options)
                .build()
                .await?,
        )),
        #[cfg(feature = "mysql")]
        Some(info) if info.feature == "mysql" => Ok(Arc::new(
            sql::MySqlStore::builder(url)?
                .options(options)
                .build()
                .await?,
        )),
        #[cfg(feature = "sqlite")]
        Some(info) if info.feature == "sqlite" => Ok(Arc::new(
            sql::SqliteStore::builder(url)?
                .options(options)
                .build()
                .await?,
        )),
        #[cfg(feature = "mongodb")]
        Some(info) if info.feature == "mongodb" => Ok(Arc::new(
            mongodb::MongoStore::builder(url)?
                .options(options)
                .build()
                .await?,
        )),
        _ => {
            let _ = options;
            Err(Error::BadUrl {
                url: redact_url(url),
                reason: format!("unknown scheme; this build supports: {}", enabled_schemes()),
            })
        }
    }
}

/// Whether the store behind `feature` keeps `profile`'s format.
fn supports(feature: &str, profile: Profile) -> bool {
    matches!(
        (feature, profile),
        (_, Profile::Native)
            | (
                "redis" | "memcached" | "mongodb" | "postgres" | "mysql" | "sqlite",
                Profile::FlaskSession
            )
            | ("postgres" | "mysql" | "sqlite" | "file", Profile::Django)
    )
}

/// The stores that keep `profile`'s format, for error messages.
fn profile_stores(profile: Profile) -> &'static str {
    match profile {
        Profile::FlaskSession => "redis, memcached, mongodb, postgres, mysql, sqlite",
        Profile::Native => "all",
        Profile::Django => {
            "postgres, mysql and sqlite (Django's db engine, table django_session) and file (Django's file engine); \
             Django's cache engines store Python pickle, which tessera never reads, so a cache-only store cannot share sessions with them"
        }
        _ => "none (the profile covers cookie sessions)",
    }
}

/// A version token for records that carry none (Python's): the first 48 bits of the SHA-256
/// of the stored bytes. A conditional write compares it with the stored bytes' token.
#[cfg(any(
    feature = "file",
    feature = "mongodb",
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite"
))]
pub(crate) fn content_version(bytes: &[u8]) -> Version {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    let mut be = [0u8; 8];
    be[2..].copy_from_slice(&digest[..6]);
    Version::new(u64::from_be_bytes(be))
}

/// The schemes this build can open, cookie sessions included.
pub(crate) fn enabled_schemes() -> String {
    let mut out: Vec<&str> = vec!["cookie", "cookie+signed", "cookie+encrypted"];
    out.extend(SCHEMES.iter().filter(|s| s.enabled).map(|s| s.scheme));
    out.join(", ")
}

/// A URL fit for an error message or a log: any password is replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        // Not a single-host URL (a cluster's `host:port,host:port`): drop any credentials.
        Err(_) => match url.split_once("://") {
            Some((scheme, rest)) => {
                let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
                match rest[..authority_end].rfind('@') {
                    Some(at) => format!("{scheme}://***{}", &rest[at..]),
                    None => url.to_owned(),
                }
            }
            None => url.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_schemes_list_what_is_enabled() {
        let err = open("nosuch://x", &OpenOptions::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown scheme"), "{err}");
        assert!(err.contains("cookie+encrypted"), "{err}");
    }

    #[tokio::test]
    async fn every_server_scheme_is_known_with_or_without_its_feature() {
        let options = OpenOptions::default().with_timeout(std::time::Duration::from_millis(300));
        let dir = std::env::temp_dir().join(format!("tessera-open-{}", std::process::id()));
        let urls = [
            "redis://127.0.0.1:1".to_owned(),
            "rediss://127.0.0.1:1".to_owned(),
            "redis+cluster://127.0.0.1:1,127.0.0.1:2".to_owned(),
            "memcached://127.0.0.1:1".to_owned(),
            format!("file://{}", dir.display()),
        ];
        for url in &urls {
            let scheme = url.split(':').next().unwrap();
            let info = SCHEMES.iter().find(|s| s.scheme == scheme).unwrap();
            match open(url, &options).await {
                Err(Error::FeatureDisabled { feature, .. }) => {
                    assert!(!info.enabled, "{url}");
                    assert_eq!(feature, info.feature);
                }
                Err(Error::BadUrl { reason, .. }) => panic!("{url} was refused: {reason}"),
                // Nothing listens on port 1: connecting fails, but the URL was understood.
                Err(Error::Unavailable { .. } | Error::Timeout { .. }) | Ok(_) => {
                    assert!(info.enabled, "{url}");
                }
                Err(other) => panic!("{url}: {other}"),
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn flask_session_files_are_refused_as_pickle() {
        let options =
            OpenOptions::default().with_profile(Profile::FlaskSession, ExpiryPolicy::default());
        let err = open("file:///tmp/flask_session", &options)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("tessera never unpickles"), "{err}");
        assert!(err.contains("postgres"), "{err}");
    }

    #[test]
    fn cluster_urls_are_redacted_too() {
        assert_eq!(
            redact_url("redis+cluster://user:hunter2@a:1,b:2/0"),
            "redis+cluster://***@a:1,b:2/0"
        );
        assert_eq!(
            redact_url("redis+cluster://a:1,b:2"),
            "redis+cluster://a:1,b:2"
        );
    }

    #[tokio::test]
    async fn disabled_stores_name_their_feature() {
        for info in SCHEMES.iter().filter(|s| !s.enabled) {
            let url = format!("{}://user:hunter2@localhost/db", info.scheme);
            match open(&url, &OpenOptions::default()).await {
                Err(Error::FeatureDisabled { feature, .. }) => assert_eq!(feature, info.feature),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_store_scheme_is_listed() {
        for scheme in [
            "memory",
            "postgres",
            "postgresql",
            "mysql",
            "mariadb",
            "sqlite",
            "mongodb",
        ] {
            assert!(SCHEMES.iter().any(|s| s.scheme == scheme), "{scheme}");
        }
    }

    #[test]
    fn options_never_print_key_material() {
        let secret = "options-debug-secret-key-0123456789abcdef";
        let options = OpenOptions::default()
            .with_keys(KeyRing::new(crate::crypto::SecretKey::new(secret).unwrap()))
            .with_cookie_name("sessionid");
        let shown = format!("{options:?}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("sessionid"));
    }

    #[tokio::test]
    async fn the_django_profile_names_the_stores_that_keep_it() {
        let options = OpenOptions::default().with_profile(Profile::Django, ExpiryPolicy::default());
        for url in [
            "redis://127.0.0.1:1",
            "memcached://127.0.0.1:1",
            "mongodb://127.0.0.1:1/x",
        ] {
            let err = open(url, &options).await.unwrap_err().to_string();
            assert!(
                err.contains("pickle") && err.contains("postgres"),
                "{url}: {err}"
            );
        }
        assert!(supports("postgres", Profile::Django));
        assert!(supports("sqlite", Profile::Django));
        assert!(supports("file", Profile::Django));
        assert!(supports("mysql", Profile::Django));
        assert!(supports("mysql", Profile::FlaskSession));
        assert!(!supports("redis", Profile::Django));
    }

    #[tokio::test]
    async fn passwords_never_reach_error_messages() {
        let err = open(
            "nosuch://user:hunter2@localhost/db",
            &OpenOptions::default(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
