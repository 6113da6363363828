//! [`MongoStore`]: one MongoDB document per session, with a TTL index (feature `mongodb`).
//!
//! The profile's [`RecordCodec`] makes the bytes inside each document; the document around
//! them is tessera's layout, or with the `flask-session` profile Flask-Session 0.8's
//! (`SESSION_TYPE="mongodb"`); see [`MongoStore`].

mod flask_session;
mod listing;
mod user_index;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, IndexModel};
use time::OffsetDateTime;

use super::{Error, Expected, Listing, Loaded, OpenOptions, Saved, SessionStore, UserIndex};
use crate::clock::{self, SharedClock};
use crate::codec::{RecordCodec, SharedCodec, Versioning};
use crate::expiry::ExpiryPolicy;
use crate::id::SessionId;
use crate::interop::Profile;
use crate::record::{Record, Version};
use crate::store::url::redact_url;
use user_index::MongoUserIndex;

/// The database used when the URL names none.
pub const DEFAULT_DATABASE: &str = "tessera";

/// The collection used unless told otherwise.
pub const DEFAULT_COLLECTION: &str = "sessions";

/// The name of the TTL index on `expires_at`.
pub const TTL_INDEX: &str = "tessera_expires_at_ttl";

/// The database used with the `flask-session` profile when the URL names none (Flask-Session's
/// `SESSION_MONGODB_DB` default).
pub const FLASK_SESSION_DATABASE: &str = "flask_session";

/// The profiles whose records the store keeps: tessera's and Flask-Session's (Django has no
/// MongoDB session engine).
const PROFILES: &[Profile] = &[Profile::Native, Profile::FlaskSession];

/// Which documents hold the codec's bytes: a document layout, not a format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// tessera's: `_id`, `data` (the record's JSON text), `expires_at`, `version` (a counter).
    Native,
    /// Flask-Session 0.8's: `id`, `val` (the bytes), `expiration`; versions hash `val`.
    FlaskSession,
}

impl Layout {
    /// tessera's layout for codecs that let the store keep a version counter; Flask-Session's
    /// for a foreign one (the only foreign profile in [`PROFILES`]).
    fn for_codec(codec: &dyn RecordCodec) -> Self {
        match codec.versioning() {
            Versioning::Counter => Self::Native,
            Versioning::ContentHash => Self::FlaskSession,
        }
    }

    /// The database used when the URL names none.
    fn default_database(self) -> &'static str {
        match self {
            Self::Native => DEFAULT_DATABASE,
            Self::FlaskSession => FLASK_SESSION_DATABASE,
        }
    }

    /// The field holding the deadline, which the TTL index watches.
    fn deadline_field(self) -> &'static str {
        match self {
            Self::Native => "expires_at",
            Self::FlaskSession => "expiration",
        }
    }
}

/// Sessions in a MongoDB collection, one document each (as Flask-Session keeps them):
///
/// | field | BSON type | holds |
/// |---|---|---|
/// | `_id` | string | key prefix + session id |
/// | `data` | string | the record as compact JSON ([`Record::encode_json`]); a binary `data` ([`Record::encode`]'s form) loads too |
/// | `expires_at` | date | the deadline, to the whole second; a TTL index (`expireAfterSeconds: 0`) lets the server delete expired sessions |
/// | `version` | 64-bit integer | 1 when created, +1 on every write |
///
/// URL: `mongodb://user:password@host:port/database?collection=…&migrate=false`, plus the
/// driver's own options. The database comes from the URL's path, else [`DEFAULT_DATABASE`]
/// (Flask-Session's `SESSION_MONGODB_DB`); the collection from `?collection=`, else
/// [`DEFAULT_COLLECTION`] (`SESSION_MONGODB_COLLECT`). The builder overrides both.
///
/// The server's TTL monitor deletes expired documents only once a minute or so, so `load`
/// also filters on `expires_at > now` by the store's injected clock: an expired session is
/// never returned. [`clear_expired`](SessionStore::clear_expired) deletes what the monitor has
/// not yet.
///
/// Every write is conditional: a save of a loaded session replaces the document only where
/// `version` still matches (and it is live); a new session is inserted, and a duplicate `_id`
/// is replaced only if that document has expired. `touch` replaces the document with the same
/// data and version under the same condition, retrying if a save slipped in. Writes replace
/// whole documents rather than `$set` fields, which also keeps `expires_at` a BSON date on
/// MongoDB-compatible servers whose `$set` turns dates into strings.
///
/// Server selection and connecting are bounded by the store's timeout, and every call is
/// wrapped in it too.
///
/// # The index by user
///
/// [`user_index`](SessionStore::user_index) keeps its entries in the collection
/// `<collection>_users` beside the sessions (both layouts), one document per entry:
///
/// | field | BSON type | holds |
/// |---|---|---|
/// | `_id` | ObjectId | made by the driver |
/// | `user` | string | the user name, as given (a value in every query, never an operator) |
/// | `session` | string | key prefix + session id, as in the sessions' documents |
/// | `until` | date | the entry lasts at least until then (to the millisecond, rounded up); a TTL index (`expireAfterSeconds: 0`) lets the server delete it |
///
/// [`migrate`](Self::migrate) creates a unique index on `(user, session)`, an index on `user`
/// and the TTL index on `until`. Entering costs one indexed `find` per save that has a user,
/// plus an insert or a replace when the entry must be created or last longer; the replace
/// matches only the `until` it read, so concurrent writers never move it earlier. Listing a
/// user's sessions is one indexed `find` (`until` judged by the store's clock), and
/// [`clear_expired`](SessionStore::clear_expired) deletes the expired entries the TTL monitor
/// has not deleted yet. Without `migrate` nothing is expired by the server, and a server that
/// does not enforce unique indexes may hold an entry twice (listed once).
///
/// # The `flask-session` profile
///
/// Opened with [`Profile::FlaskSession`] (`SESSION_PROFILE=flask-session`), the store reads and
/// writes the documents Flask-Session 0.8 keeps with `SESSION_TYPE="mongodb"`, so a Flask app
/// and a Rust service share one collection:
///
/// | field | BSON type | holds |
/// |---|---|---|
/// | `_id` | ObjectId | made by the driver |
/// | `id` | string | key prefix + session id |
/// | `val` | binary | the codec's bytes: the session dict in msgpack, `_permanent` included |
/// | `expiration` | date | the deadline (Flask writes naive UTC); TTL index `expiration_1` |
/// | `tessera_rev` | 64-bit integer | only in documents tessera wrote: the hash of `val` |
///
/// The database defaults to [`FLASK_SESSION_DATABASE`] (`SESSION_MONGODB_DB`) and the
/// collection to `sessions` (`SESSION_MONGODB_COLLECT`). Python's documents carry no version,
/// so the version is a hash of `val`. A write first checks that hash, then updates with `$set`
/// (as Flask-Session does) only where `expiration` and `tessera_rev` are still what it read:
/// every Flask-Session write moves `expiration` to a new millisecond and every tessera write
/// changes `tessera_rev`, so no write is lost. `migrate` creates Flask-Session's TTL index and
/// a unique index on `id`, so two creations of one id cannot both succeed; on a server that
/// ignores unique indexes, a creation that finds a twin after inserting removes its own
/// document and reports
/// a conflict. `load` judges `expiration` by the store's clock, since the TTL monitor lags.
///
/// ```no_run
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::mongodb::MongoStore;
///
/// let store = MongoStore::builder("mongodb://127.0.0.1:27017/app")?
///     .collection("web_sessions")
///     .build()
///     .await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Clone)]
pub struct MongoStore {
    collection: Collection<Document>,
    clock: SharedClock,
    timeout: Duration,
    key_prefix: String,
    codec: SharedCodec,
    layout: Layout,
    users: MongoUserIndex,
}

impl fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoStore")
            .field("namespace", &self.collection.namespace().to_string())
            .field("timeout", &self.timeout)
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

/// Configures and connects a [`MongoStore`]; see [`MongoStore::builder`].
pub struct MongoStoreBuilder {
    url: String,
    database: Option<String>,
    collection: String,
    migrate: bool,
    clock: SharedClock,
    timeout: Duration,
    key_prefix: String,
    profile: Profile,
    policy: ExpiryPolicy,
}

impl fmt::Debug for MongoStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoStoreBuilder")
            .field("url", &redact_url(&self.url))
            .field("database", &self.database)
            .field("collection", &self.collection)
            .field("migrate", &self.migrate)
            .field("timeout", &self.timeout)
            .field("key_prefix", &self.key_prefix)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl MongoStoreBuilder {
    /// Uses database `name` instead of the URL's (Flask-Session's `SESSION_MONGODB_DB`).
    #[must_use]
    pub fn database(mut self, name: impl Into<String>) -> Self {
        self.database = Some(name.into());
        self
    }

    /// Uses collection `name` (`?collection=`; Flask-Session's `SESSION_MONGODB_COLLECT`).
    #[must_use]
    pub fn collection(mut self, name: impl Into<String>) -> Self {
        self.collection = name.into();
        self
    }

    /// Whether to create the TTL index when connecting (`?migrate=`, default `true`).
    #[must_use]
    pub fn migrate(mut self, on: bool) -> Self {
        self.migrate = on;
        self
    }

    /// Judges expiry by `clock` (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Bounds server selection, connecting and every call (default 3 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Puts `prefix` before session ids in `_id` (default `session:`).
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Keeps `profile`'s documents: [`Profile::Native`] (the default) or
    /// [`Profile::FlaskSession`], whose `_permanent` flag `policy` interprets.
    #[must_use]
    pub fn profile(mut self, profile: Profile, policy: ExpiryPolicy) -> Self {
        self.profile = profile;
        self.policy = policy;
        self
    }

    /// Takes the clock, key prefix, timeout and profile from `options`.
    #[must_use]
    pub fn options(self, options: &OpenOptions) -> Self {
        self.clock(options.clock.clone())
            .key_prefix(options.key_prefix.clone())
            .timeout(options.timeout)
            .profile(options.profile, options.policy)
    }

    /// Connects, and runs [`MongoStore::migrate`] unless told not to.
    pub async fn build(self) -> Result<MongoStore, Error> {
        let bad = |reason: String| Error::BadUrl {
            url: redact_url(&self.url),
            reason,
        };
        let mut options = bounded("connect", self.timeout, async {
            ClientOptions::parse(&self.url).await
        })
        .await
        .map_err(|e| match e {
            Error::Unavailable { source, .. } => bad(scrub(source.to_string(), &self.url)),
            other => other,
        })?;
        options.server_selection_timeout = Some(self.timeout);
        options.connect_timeout = Some(self.timeout);
        if options.app_name.is_none() {
            options.app_name = Some("tessera".to_owned());
        }
        if !PROFILES.contains(&self.profile) {
            return Err(bad(format!(
                "the MongoDB store keeps the native and flask-session formats, not {}'s",
                self.profile
            )));
        }
        let codec = crate::codec::for_profile(self.profile, self.policy, None, self.clock.clone())
            .map_err(|e| bad(e.to_string()))?;
        let layout = Layout::for_codec(&*codec);
        let database = self
            .database
            .clone()
            .or_else(|| options.default_database.clone())
            .unwrap_or_else(|| layout.default_database().to_owned());
        if database.is_empty() || database.contains(['/', '\\', '.', ' ', '"', '$', '\0']) {
            return Err(bad(format!("{database:?} is not a MongoDB database name")));
        }
        if self.collection.is_empty()
            || self.collection.contains(['$', '\0'])
            || self.collection.starts_with("system.")
        {
            return Err(bad(format!(
                "{:?} is not a MongoDB collection name",
                self.collection
            )));
        }
        let client = Client::with_options(options).map_err(|e| Error::unavailable("connect", e))?;
        let db = client.database(&database);
        let users = MongoUserIndex::new(
            db.collection(&format!("{}{}", self.collection, user_index::SUFFIX)),
            self.key_prefix.clone(),
            self.clock.clone(),
            self.timeout,
        );
        let store = MongoStore {
            collection: db.collection(&self.collection),
            users,
            clock: self.clock,
            timeout: self.timeout,
            key_prefix: self.key_prefix,
            codec,
            layout,
        };
        if self.migrate {
            store.migrate().await?;
        } else {
            // Still fail here, not at the first request, if the server cannot be reached.
            bounded("connect", store.timeout, async {
                db.run_command(doc! { "ping": 1 }).await
            })
            .await?;
        }
        Ok(store)
    }
}

/// A driver error's text with the URL's password (if any) replaced by `***`.
fn scrub(text: String, url: &str) -> String {
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password);
    match password {
        Some(password) if !password.is_empty() => text.replace(password, "***"),
        _ => text,
    }
}

/// Runs one driver call within `after`, mapping its error.
async fn bounded<T>(
    op: &'static str,
    after: Duration,
    fut: impl std::future::Future<Output = mongodb::error::Result<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(after, fut).await {
        Err(_) => Err(Error::Timeout { op, after }),
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Error::unavailable(op, e)),
    }
}

fn is_duplicate(e: &Error) -> bool {
    let Error::Unavailable { source, .. } = e else {
        return false;
    };
    source
        .downcast_ref::<mongodb::error::Error>()
        .is_some_and(|e| match &*e.kind {
            ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
            _ => false,
        })
}

/// A deadline as the BSON date stored, to the whole second.
fn bson_date(at: OffsetDateTime) -> DateTime {
    DateTime::from_millis(at.unix_timestamp().saturating_mul(1000))
}

impl MongoStore {
    /// A builder for a store at `url` (`mongodb://…`), to set the database, collection, clock…
    pub fn builder(url: &str) -> Result<MongoStoreBuilder, Error> {
        let bad = |reason: String| Error::BadUrl {
            url: redact_url(url),
            reason,
        };
        if !url.starts_with("mongodb://") {
            // mongodb+srv:// would need the driver's DNS resolver, which tessera leaves out.
            return Err(bad("expected a URL starting with mongodb:// (mongodb+srv:// is not supported; list the hosts)".into()));
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut builder = MongoStoreBuilder {
            url: base.to_owned(),
            database: None,
            collection: DEFAULT_COLLECTION.to_owned(),
            migrate: true,
            clock: clock::system(),
            timeout: crate::store::DEFAULT_STORE_TIMEOUT,
            key_prefix: OpenOptions::default().key_prefix,
            profile: Profile::Native,
            policy: ExpiryPolicy::default(),
        };
        let mut rest = url::form_urlencoded::Serializer::new(String::new());
        let mut passed = false;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "collection" => builder.collection = value.into_owned(),
                "migrate" => {
                    builder.migrate = match &*value {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => return Err(bad(format!("migrate={value:?} is not true or false"))),
                    }
                }
                _ => {
                    rest.append_pair(&key, &value);
                    passed = true;
                }
            }
        }
        if passed {
            builder.url = format!("{base}?{}", rest.finish());
        }
        Ok(builder)
    }

    /// Connects with the defaults (and the URL's parameters), creating the TTL index.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::builder(url)?.build().await
    }

    /// The collection, for anything tessera does not do.
    pub fn collection(&self) -> &Collection<Document> {
        &self.collection
    }

    /// The collection of the index by user (`<collection>_users`; see [`MongoStore`]).
    pub fn user_index_collection(&self) -> &Collection<Document> {
        self.users.collection()
    }

    /// Creates the TTL index on `expires_at` (`expireAfterSeconds: 0`) if missing. Idempotent:
    /// `createIndexes` with an identical index is a no-op on the server, so app servers
    /// starting together need no lock.
    ///
    /// With the `flask-session` profile: Flask-Session's TTL index on `expiration` (named
    /// `expiration_1`, as pymongo names it) and a unique index on `id`.
    ///
    /// In both layouts, the index by user's indexes on `<collection>_users`: unique on
    /// `(user, session)`, on `user`, and a TTL index on `until`.
    pub async fn migrate(&self) -> Result<(), Error> {
        self.users.migrate().await?;
        if self.layout == Layout::FlaskSession {
            return self.flask_migrate().await;
        }
        let index = IndexModel::builder()
            .keys(doc! { "expires_at": 1 })
            .options(
                IndexOptions::builder()
                    .name(TTL_INDEX.to_owned())
                    .expire_after(Duration::ZERO)
                    .build(),
            )
            .build();
        bounded("migrate", self.timeout, async {
            self.collection.create_index(index).await
        })
        .await?;
        Ok(())
    }

    fn key(&self, id: &SessionId) -> String {
        format!("{}{}", self.key_prefix, id.expose())
    }

    fn now(&self) -> DateTime {
        bson_date(self.clock.now())
    }

    /// The `data` field of `record`: tessera's record as its JSON text
    /// ([`Record::encode_json`]), this layout being the native codec's, rather than the binary
    /// form the other stores keep. Text keeps documents readable in the shell, and nx-27017,
    /// the MongoDB-compatible server the tests run on, fails to replace a document holding
    /// binary data. A document whose `data` is binary loads too.
    fn data(record: &Record) -> Bson {
        // serde_json writes UTF-8, which the lossy conversion never alters.
        Bson::String(String::from_utf8_lossy(&record.encode_json()).into_owned())
    }

    fn document(key: &str, data: Bson, expires_at: OffsetDateTime, version: i64) -> Document {
        doc! {
            "_id": key,
            "data": data,
            "expires_at": bson_date(expires_at),
            "version": version,
        }
    }

    /// The live document under `key`, if any.
    async fn find_live(&self, op: &'static str, key: &str) -> Result<Option<Document>, Error> {
        let filter = doc! { "_id": key, "expires_at": { "$gt": self.now() } };
        bounded(op, self.timeout, async {
            self.collection.find_one(filter).await
        })
        .await
    }

    /// Replaces an expired document under `key` with `data`; `None` if there is none (any
    /// more).
    async fn replace_expired(
        &self,
        key: &str,
        data: Bson,
        expires_at: OffsetDateTime,
    ) -> Result<Option<Version>, Error> {
        let now = self.now();
        let filter = doc! { "_id": key, "expires_at": { "$lte": now } };
        let old = bounded("save", self.timeout, async {
            self.collection.find_one(filter).await
        })
        .await?;
        let Some(old) = old.and_then(|d| version_of(&d)) else {
            return Ok(None);
        };
        let next = old.saturating_add(1);
        let filter = doc! { "_id": key, "version": old, "expires_at": { "$lte": now } };
        let replaced = bounded("save", self.timeout, async {
            self.collection
                .replace_one(filter, Self::document(key, data, expires_at, next))
                .await
        })
        .await?;
        Ok((replaced.matched_count == 1)
            .then(|| u64::try_from(next).ok().map(Version::new))
            .flatten())
    }
}

fn version_of(doc: &Document) -> Option<i64> {
    match doc.get("version") {
        Some(Bson::Int64(v)) => Some(*v),
        Some(Bson::Int32(v)) => Some(i64::from(*v)),
        _ => None,
    }
}

/// The record and version in a document of tessera's layout.
fn decode(codec: &dyn RecordCodec, id: &SessionId, doc: &Document) -> Result<Loaded, Error> {
    // Binary since the binary record; text (its JSON) before.
    let data = match doc.get("data") {
        Some(Bson::Binary(b)) => &b.bytes[..],
        Some(Bson::String(s)) => s.as_bytes(),
        _ => {
            return Err(Error::corrupt(
                id,
                "the document has no binary or text `data` field",
            ))
        }
    };
    let expires_at = doc
        .get_datetime("expires_at")
        .map_err(|e| Error::corrupt(id, e))?;
    let expires_at = OffsetDateTime::from_unix_timestamp(expires_at.timestamp_millis() / 1000)
        .map_err(|e| Error::corrupt(id, e))?;
    let record = codec
        .decode(data, Some(expires_at))
        .map_err(|e| Error::undecodable(id, e))?;
    let version = version_of(doc)
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| Error::corrupt(id, "the version field is missing or not a number"))?;
    Ok(Loaded {
        record,
        version: Version::new(version),
    })
}

#[async_trait]
impl SessionStore for MongoStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        if self.layout == Layout::FlaskSession {
            return self.flask_load(id).await;
        }
        match self.find_live("load", &self.key(id)).await? {
            Some(doc) => decode(&*self.codec, id, &doc).map(Some),
            None => Ok(None),
        }
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error> {
        if self.layout == Layout::FlaskSession {
            return self.flask_save(id, record, expected).await;
        }
        let key = self.key(id);
        let expired = record.is_expired(self.clock.now());
        match expected {
            Expected::Absent if expired => Ok(match self.find_live("save", &key).await? {
                Some(_) => Saved::Conflict,
                None => Saved::Written(Version::FIRST),
            }),
            Expected::Absent => {
                let data = Self::data(record);
                let inserted = bounded("save", self.timeout, async {
                    self.collection
                        .insert_one(Self::document(&key, data.clone(), record.expires_at, 1))
                        .await
                })
                .await;
                match inserted {
                    Ok(_) => Ok(Saved::Written(Version::FIRST)),
                    // The id is taken: take its place only if that session has expired.
                    Err(e) if is_duplicate(&e) => Ok(
                        match self.replace_expired(&key, data, record.expires_at).await? {
                            Some(version) => Saved::Written(version),
                            None => Saved::Conflict,
                        },
                    ),
                    Err(e) => Err(e),
                }
            }
            Expected::Version(v) => {
                // Versions count up by one per write from 1; 2^63 writes do not happen.
                let version = i64::try_from(v.get()).unwrap_or(i64::MAX);
                let filter = doc! {
                    "_id": &key,
                    "version": version,
                    "expires_at": { "$gt": self.now() },
                };
                let matched = if expired {
                    bounded("save", self.timeout, async {
                        self.collection.delete_one(filter).await
                    })
                    .await?
                    .deleted_count
                } else {
                    let next = Self::document(
                        &key,
                        Self::data(record),
                        record.expires_at,
                        version.saturating_add(1),
                    );
                    bounded("save", self.timeout, async {
                        self.collection.replace_one(filter, next).await
                    })
                    .await?
                    .matched_count
                };
                Ok(if matched == 1 {
                    Saved::Written(v.next())
                } else {
                    Saved::Conflict
                })
            }
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        if self.layout == Layout::FlaskSession {
            return self.flask_delete(id).await;
        }
        let filter = doc! { "_id": self.key(id) };
        bounded("delete", self.timeout, async {
            self.collection.delete_one(filter).await
        })
        .await?;
        Ok(())
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error> {
        if self.layout == Layout::FlaskSession {
            return self.flask_touch(id, expires_at).await;
        }
        let key = self.key(id);
        let attempt = async {
            loop {
                let Some(mut doc) = self.find_live("touch", &key).await? else {
                    return Ok(false);
                };
                let Some(version) = version_of(&doc) else {
                    return Err(Error::corrupt(
                        id,
                        "the version field is missing or not a number",
                    ));
                };
                // Same data, same version, new deadline; if a save slipped in since the read
                // the version no longer matches, and the fresh document is touched instead.
                doc.insert("expires_at", bson_date(expires_at));
                let filter = doc! {
                    "_id": &key,
                    "version": version,
                    "expires_at": { "$gt": self.now() },
                };
                let replaced = bounded("touch", self.timeout, async {
                    self.collection.replace_one(filter, doc).await
                })
                .await?;
                if replaced.matched_count == 1 {
                    return Ok(true);
                }
            }
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                op: "touch",
                after: self.timeout,
            }),
        }
    }

    /// Also deletes the index by user's expired entries (not counted: the total is of
    /// sessions).
    async fn clear_expired(&self) -> Result<u64, Error> {
        self.users.clear_expired().await?;
        let field = self.layout.deadline_field();
        let filter = doc! { field: { "$lte": self.now() } };
        let mut deleted = bounded("clear_expired", self.timeout, async {
            self.collection.delete_many(filter).await
        })
        .await?;
        if self.layout == Layout::FlaskSession {
            // Deadlines some MongoDB-compatible servers keep as text (see `flask_session`).
            let text = crate::interop::flask_session::naive_utc(self.clock.now());
            let filter = doc! { field: { "$lte": text } };
            deleted.deleted_count += bounded("clear_expired", self.timeout, async {
                self.collection.delete_many(filter).await
            })
            .await?
            .deleted_count;
        }
        Ok(deleted.deleted_count)
    }

    /// Batches of 500 expired documents, each found and deleted within the store's timeout.
    async fn clear_expired_in_batches(
        &self,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, Error> {
        self.clear_in_batches(progress).await
    }

    /// The TTL monitor deletes expired documents only every minute or so, so
    /// [`clear_expired`](SessionStore::clear_expired) still has work: false.
    fn server_expires(&self) -> bool {
        false
    }

    /// Pages of 200 documents in key order (`_id`, or `id` in Flask-Session's layout), each a
    /// `find` after the last key of the one before; the size is the data field's length
    /// (`data`, `val`). Documents the TTL monitor has not removed yet are listed, expired.
    fn list(&self) -> Listing<'_> {
        self.listing()
    }

    fn profile(&self) -> Profile {
        self.codec.profile()
    }

    /// The collection `<collection>_users` (see [`MongoStore`]).
    fn user_index(&self) -> Result<&dyn UserIndex, Error> {
        Ok(&self.users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tessera_parameters_are_taken_out_of_the_url() {
        let b = MongoStore::builder("mongodb://u:pw@h:27017/app?collection=c&appName=x&migrate=no")
            .unwrap();
        assert_eq!(b.url, "mongodb://u:pw@h:27017/app?appName=x");
        assert_eq!(b.collection, "c");
        assert!(!b.migrate);
        assert!(!format!("{b:?}").contains("pw"));
        assert!(MongoStore::builder("redis://h").is_err());
        assert!(MongoStore::builder("mongodb://h/?migrate=maybe").is_err());
        assert_eq!(scrub("bad pw".into(), "mongodb://u:pw@h"), "bad ***");
    }
}
