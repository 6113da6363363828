//! SQL stores through [sqlx]: one [`SqlStore`] generic over a [`Dialect`] — [`PostgresStore`]
//! (feature `postgres`), [`MySqlStore`] (feature `mysql`, MySQL and MariaDB) and
//! [`SqliteStore`] (feature `sqlite`, bundled SQLite) — keeping its profile's table layout with
//! that profile's [record codec](crate::codec):
//!
//! | profile | table | versions |
//! |---|---|---|
//! | `native` | tessera's (below) | a `version` column |
//! | `flask-session` | Flask-Session 0.8's `sessions` ([`flask_session`]) | hash of the stored bytes, row locked |
//! | `django` | Django's `django_session` ([`DjangoDbStore`]) | hash of the stored bytes, row locked |
//!
//! tessera's own table (default `tessera_sessions`) has the same columns in each database's
//! own types:
//!
//! | column | PostgreSQL | MySQL / MariaDB | SQLite | holds |
//! |---|---|---|---|---|
//! | `id` | `TEXT` primary key | `VARBINARY(255)` primary key | `TEXT` primary key | key prefix + session id |
//! | `data` | `BYTEA` | `LONGBLOB` | `BLOB` | [`Record::encode`](crate::Record::encode) (binary; older rows' JSON loads too) |
//! | `expires_at` | `BIGINT`, indexed | `BIGINT`, indexed | `INTEGER`, indexed | deadline, Unix seconds (UTC) |
//! | `version` | `BIGINT` | `BIGINT` | `INTEGER` | 1 when created, +1 on every write |
//!
//! Expiry is judged by the store's injected clock, passed as a query parameter, never by the
//! database's `NOW()`: app servers and tests agree on what "now" is, and `load` never returns
//! an expired row even before [`clear_expired`](crate::store::SessionStore::clear_expired)
//! deletes it. Deadlines are kept to the whole second.
//!
//! Writes are conditional in SQL: a save of a loaded session is
//! `UPDATE … WHERE id = ? AND version = ? AND expires_at > now`, and a new session is inserted
//! without overwriting a live row (an expired row with the same id is replaced atomically, and
//! its version keeps counting up). Two app servers with separate pools therefore never lose an
//! update; the loser gets [`Saved::Conflict`] at once, and the middleware reloads and retries
//! after its own random back-off (250 µs doubling to 32 ms, see
//! [`save_retries`](crate::config::SessionConfigBuilder::save_retries)).
//!
//! [`list`](crate::store::SessionStore::list) reads the table in key order, 200 rows per
//! statement (`… WHERE key > last ORDER BY key LIMIT 200`, each bounded by the timeout),
//! expired rows included; a row's size is its data column's length in bytes. Rows under
//! another key prefix, or whose key is no session id the profile takes, are skipped.
//!
//! The constructor runs [`migrate`](PostgresStore::migrate) (create the table and its index if
//! missing, under a database lock so app servers starting together do not race) unless the URL
//! says `migrate=false` or the builder [`SqlStoreBuilder::migrate`] turns it off.
//!
//! ## The index of sessions by user
//!
//! [`user_index`](crate::store::SessionStore::user_index) ("your sessions", "log out
//! everywhere") is kept in a table of tessera's own beside the session table, named after it
//! with the suffix `_users` (`tessera_sessions_users`, `sessions_users`,
//! `django_session_users`; on PostgreSQL in the same schema): the tables Flask-Session and
//! Django own never get a column. One row per `(user, session)`:
//!
//! | column | PostgreSQL | MySQL / MariaDB | SQLite | holds |
//! |---|---|---|---|---|
//! | `user_hash` | `BYTEA` | `BINARY(32)` | `BLOB` | SHA-256 of the user name (UTF-8) |
//! | `user_name` | `TEXT` | `TEXT` (`utf8mb4_bin`) | `TEXT` | the user name, verbatim (not indexed; for people reading the table) |
//! | `session_key` | the session table's key type (`TEXT`, `VARCHAR(255)`, `varchar(40)`) | `VARBINARY(255)` | `TEXT` | the session table's key (prefix + id, or Django's bare key) |
//! | `until_at` | the session table's deadline type, indexed | likewise | likewise | the entry lasts until then |
//!
//! The primary key is `(user_hash, session_key)`. Users are matched by the hash of their name,
//! byte for byte: MySQL's default collations would take `Ada` for `ada` and `ü` for `u`, and a
//! hash has a fixed length however long a name is (a MySQL key holds at most 3,072 bytes, a
//! PostgreSQL B-tree entry about 2,700). Names and keys are always bound as parameters.
//!
//! Cost: every save of a session with a user runs one more statement first, an upsert that
//! keeps the later deadline (`ON CONFLICT … DO UPDATE SET until_at = GREATEST(…)` on
//! PostgreSQL, `MAX(…)` on SQLite, `ON DUPLICATE KEY UPDATE … GREATEST(…)` on MySQL), so the
//! entry is never shortened and two app servers entering at once lose nothing. Listing a
//! user's sessions is one primary-key range read (`WHERE user_hash = ? AND until_at > now`,
//! now by the store's clock); removing is one `DELETE` per 100 ids. Each is bounded by the
//! store's timeout. [`clear_expired`](crate::store::SessionStore::clear_expired) deletes the
//! index's expired rows too, in batches of [`clear_batch`](SqlStoreBuilder::clear_batch),
//! after the sessions'. Deadlines are whole seconds, rounded as the session table's, so an
//! entry never ends before its session. Entries of a session that was deleted or changed
//! hands stay until their deadline or until the reader prunes them: the index is a candidate
//! set ([`UserIndex`](crate::store::UserIndex)).
//!
//! [`migrate`](PostgresStore::migrate) creates the index table with the session table. With
//! `migrate=false` (and with the `django` profile, whose default it is) the operator creates
//! it; a store that does not find it at start keeps no index (`user_index` refuses, and a
//! warning is logged) until it is created and the store reopened or migrated. The DDL, for a
//! session table `T` (replace the key and deadline types with those of `T`'s key and deadline
//! columns as the table above says):
//!
//! ```sql
//! -- PostgreSQL (tessera's table; Django's: session_key varchar(40), until_at timestamp with time zone)
//! CREATE TABLE IF NOT EXISTS "T_users" (user_hash BYTEA NOT NULL, user_name TEXT NOT NULL,
//!   session_key TEXT NOT NULL, until_at BIGINT NOT NULL, PRIMARY KEY (user_hash, session_key));
//! CREATE INDEX IF NOT EXISTS "T_users_until_at" ON "T_users" (until_at);
//! -- MySQL / MariaDB (Django's: until_at datetime(6); Flask-Session's: until_at DATETIME)
//! CREATE TABLE IF NOT EXISTS `T_users` (user_hash BINARY(32) NOT NULL,
//!   user_name TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
//!   session_key VARBINARY(255) NOT NULL, until_at BIGINT NOT NULL,
//!   PRIMARY KEY (user_hash, session_key), KEY `T_users_until_at` (until_at)) ENGINE=InnoDB;
//! -- SQLite (Django's and Flask-Session's: until_at DATETIME)
//! CREATE TABLE IF NOT EXISTS "T_users" (user_hash BLOB NOT NULL, user_name TEXT NOT NULL,
//!   session_key TEXT NOT NULL, until_at INTEGER NOT NULL, PRIMARY KEY (user_hash, session_key));
//! CREATE INDEX IF NOT EXISTS "T_users_until_at" ON "T_users" (until_at);
//! ```
//!
//! URL query parameters read by tessera (the rest go to sqlx):
//!
//! | parameter | default | meaning |
//! |---|---|---|
//! | `table` | `tessera_sessions` (`sessions` with `flask-session`, `django_session` with `django`) | table name: letters, digits and `_`, at most 48 characters |
//! | `schema` | the search path | PostgreSQL only: the table's schema (created if missing) |
//! | `migrate` | `true` (`false` with `django`) | whether to create the table (and the index table) at start |
//! | `max_connections` | `10` | pool size |
//!
//! With the `django` profile the table defaults to `django_session` and `migrate` to `false`.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use time::OffsetDateTime;

use super::{Error, OpenOptions, Saved};
use crate::clock::{self, SharedClock};
use crate::crypto::KeyRing;
use crate::expiry::ExpiryPolicy;
use crate::id::SessionId;
use crate::interop::Profile;
use crate::record::{Record, Version};
use crate::store::url::redact_url;

mod django;
pub mod flask_session;
mod listing;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
mod table;
pub mod user_index;

pub use django::{DjangoDbStore, DJANGO_TABLE};
#[cfg(feature = "mysql")]
pub use mysql::MySql;
#[cfg(feature = "postgres")]
pub use postgres::Postgres;
#[cfg(feature = "sqlite")]
pub use sqlite::Sqlite;
pub use store::{Dialect, SqlStore};

/// Sessions in a PostgreSQL table (feature `postgres`): [`SqlStore`] on [`Postgres`].
///
/// URL: `postgres://user:password@host:port/database?table=…&schema=…&migrate=false`
/// (`postgresql://` too; other parameters such as `sslmode` go to sqlx). Every connection runs
/// with `statement_timeout` and `lock_timeout` set to the store's timeout.
///
/// ```no_run
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::sql::PostgresStore;
///
/// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
/// # let _ = store; Ok(()) }
/// ```
#[cfg(feature = "postgres")]
pub type PostgresStore = SqlStore<Postgres>;

/// Sessions in a MySQL or MariaDB (InnoDB) table (feature `mysql`): [`SqlStore`] on [`MySql`].
///
/// URL: `mysql://user:password@host:port/database?table=…&migrate=false` (`mariadb://` too;
/// other parameters such as `ssl-mode` go to sqlx). Every connection sets
/// `innodb_lock_wait_timeout` and the statement time limit (`max_statement_time` on MariaDB,
/// `max_execution_time` on MySQL) from the store's timeout.
///
/// ```no_run
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::sql::MySqlStore;
///
/// let store = MySqlStore::connect("mysql://root@127.0.0.1:3306/app?table=web_sessions").await?;
/// # let _ = store; Ok(()) }
/// ```
#[cfg(feature = "mysql")]
pub type MySqlStore = SqlStore<MySql>;

/// Sessions in an SQLite database (feature `sqlite`, bundled SQLite): [`SqlStore`] on
/// [`Sqlite`].
///
/// URLs: `sqlite://sessions.db` (relative to the working directory),
/// `sqlite:///var/lib/app/sessions.db` (absolute), `sqlite::memory:` (this process only);
/// other parameters (`mode`, …) go to sqlx. The file is created if missing and, except for a
/// Django project's database, switched to write-ahead logging; writers wait for each other up
/// to the store's timeout (`busy_timeout`).
///
/// ```no_run
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::sql::SqliteStore;
///
/// let store = SqliteStore::connect("sqlite://tessera-sessions.db").await?;
/// # let _ = store; Ok(()) }
/// ```
#[cfg(feature = "sqlite")]
pub type SqliteStore = SqlStore<Sqlite>;

/// The table SQL stores use unless told otherwise.
pub const DEFAULT_TABLE: &str = "tessera_sessions";

/// How many expired rows one `clear_expired` statement deletes.
pub const DEFAULT_CLEAR_BATCH: u64 = 1_000;

/// The pool size unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// The longest table or schema name accepted (index names add a suffix; PostgreSQL allows 63).
const MAX_IDENT_LEN: usize = 48;

/// A table or schema name that is safe to put into SQL: ASCII letters, digits and `_`, not
/// starting with a digit. Never anything else is interpolated into a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ident(String);

impl Ident {
    pub(crate) fn new(what: &str, name: &str) -> Result<Self, Error> {
        let valid = !name.is_empty()
            && name.len() <= MAX_IDENT_LEN
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(Error::BadUrl {
                url: name.to_owned(),
                reason: format!(
                    "a {what} name holds 1 to {MAX_IDENT_LEN} ASCII letters, digits or `_` and does not start with a digit"
                ),
            })
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// What every SQL store is configured with.
#[derive(Clone)]
pub(crate) struct Settings {
    /// The URL without tessera's own parameters (may hold a password: never print it).
    pub(crate) url: String,
    /// The URL as given (for error messages, redacted).
    pub(crate) given_url: String,
    pub(crate) table: String,
    /// Whether the table was named (else the profile's default applies).
    pub(crate) table_given: bool,
    pub(crate) schema: Option<String>,
    /// `None`: the layout's default (on, except for a table another framework owns).
    pub(crate) migrate: Option<bool>,
    pub(crate) clock: SharedClock,
    pub(crate) timeout: Duration,
    pub(crate) key_prefix: String,
    pub(crate) max_connections: u32,
    pub(crate) clear_batch: u64,
    pub(crate) profile: Profile,
    pub(crate) policy: ExpiryPolicy,
    /// The secret keys of a signed format (Django's).
    pub(crate) keys: Option<KeyRing>,
}

impl Settings {
    /// `url` (this store's, or the dialect's spelling of it) read as `O`; an error names the
    /// given URL with its password hidden.
    pub(crate) fn connect_options<O: sqlx::ConnectOptions>(&self, url: &str) -> Result<O, Error> {
        O::from_str(url).map_err(|e| Error::BadUrl {
            url: redact_url(&self.url),
            reason: scrub(e.to_string(), &self.url),
        })
    }

    /// A pool of at most `max_connections`, each waited for at most the timeout.
    pub(crate) fn pool_options<DB: sqlx::Database>(&self) -> sqlx::pool::PoolOptions<DB> {
        sqlx::pool::PoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.timeout)
    }
}

/// Configures and connects a SQL store; made by `PostgresStore::builder`,
/// `MySqlStore::builder` or `SqliteStore::builder`.
///
/// URL parameters are read first; the setters override them.
///
/// ```no_run
/// # #[cfg(feature = "postgres")]
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use std::time::Duration;
/// use tessera::store::sql::PostgresStore;
///
/// let store = PostgresStore::builder("postgres://app@db.internal/app")?
///     .table("web_sessions")
///     .schema("auth")
///     .timeout(Duration::from_secs(2))
///     .build()
///     .await?;
/// # let _ = store; Ok(()) }
/// ```
pub struct SqlStoreBuilder<S> {
    pub(crate) settings: Settings,
    store: PhantomData<fn() -> S>,
}

impl<S> fmt::Debug for SqlStoreBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("SqlStoreBuilder")
            .field("url", &redact_url(&s.url))
            .field("table", &s.table)
            .field("schema", &s.schema)
            .field("migrate", &s.migrate)
            .field("timeout", &s.timeout)
            .field("key_prefix", &s.key_prefix)
            .field("max_connections", &s.max_connections)
            .field("clear_batch", &s.clear_batch)
            .finish_non_exhaustive()
    }
}

impl<S> SqlStoreBuilder<S> {
    /// Reads tessera's parameters out of `url`; `schemes` are the accepted URL schemes.
    pub(crate) fn parse(url: &str, schemes: &[&str], allow_schema: bool) -> Result<Self, Error> {
        let bad = |reason: String| Error::BadUrl {
            url: redact_url(url),
            reason,
        };
        let scheme = url.split(':').next().unwrap_or_default();
        if !schemes.contains(&scheme) {
            return Err(bad(format!(
                "expected a URL starting with {}",
                schemes.join(":, ") + ":"
            )));
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut settings = Settings {
            url: base.to_owned(),
            given_url: url.to_owned(),
            table: DEFAULT_TABLE.to_owned(),
            table_given: false,
            schema: None,
            migrate: None,
            clock: clock::system(),
            timeout: crate::store::DEFAULT_STORE_TIMEOUT,
            key_prefix: OpenOptions::default().key_prefix,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            clear_batch: DEFAULT_CLEAR_BATCH,
            profile: Profile::Native,
            policy: ExpiryPolicy::default(),
            keys: None,
        };
        let mut rest = url::form_urlencoded::Serializer::new(String::new());
        let mut passed = false;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "table" => {
                    settings.table = value.into_owned();
                    settings.table_given = true;
                }
                "schema" if allow_schema => settings.schema = Some(value.into_owned()),
                "schema" => return Err(bad("`schema` is a PostgreSQL parameter".into())),
                "migrate" => {
                    settings.migrate = match &*value {
                        "true" | "1" | "yes" => Some(true),
                        "false" | "0" | "no" => Some(false),
                        _ => return Err(bad(format!("migrate={value:?} is not true or false"))),
                    }
                }
                "max_connections" => {
                    settings.max_connections =
                        value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                            bad(format!(
                                "max_connections={value:?} is not a positive number"
                            ))
                        })?;
                }
                _ => {
                    rest.append_pair(&key, &value);
                    passed = true;
                }
            }
        }
        if passed {
            settings.url = format!("{base}?{}", rest.finish());
        }
        Ok(Self {
            settings,
            store: PhantomData,
        })
    }

    /// `self` with `change` made to its settings.
    pub(crate) fn set(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(&mut self.settings);
        self
    }

    /// Uses table `name` (`?table=`); letters, digits and `_` only.
    #[must_use]
    pub fn table(self, name: impl Into<String>) -> Self {
        self.set(|s| {
            s.table = name.into();
            s.table_given = true;
        })
    }

    /// Keeps `profile`'s table: [`Profile::Native`] (the default, tessera's table),
    /// [`Profile::FlaskSession`] (Flask-Session 0.8's `sessions` table, see
    /// [`flask_session`]), whose `_permanent` flag `policy` interprets, or [`Profile::Django`]
    /// (Django's `django_session`, see [`DjangoDbStore`]; needs [`keys`](Self::keys)).
    #[must_use]
    pub fn profile(self, profile: Profile, policy: ExpiryPolicy) -> Self {
        self.set(|s| {
            s.profile = profile;
            s.policy = policy;
        })
    }

    /// Whether to create the table when connecting (`?migrate=`; default `true`, `false`
    /// with the `django` profile, whose table Django's migrations own).
    #[must_use]
    pub fn migrate(self, on: bool) -> Self {
        self.set(|s| s.migrate = Some(on))
    }

    /// Signs and checks a signed format's records (Django's `SECRET_KEY` and fallbacks).
    #[must_use]
    pub fn keys(self, keys: KeyRing) -> Self {
        self.set(|s| s.keys = Some(keys))
    }

    /// Judges expiry by `clock` (default: the system clock).
    #[must_use]
    pub fn clock(self, clock: SharedClock) -> Self {
        self.set(|s| s.clock = clock)
    }

    /// Bounds connecting, acquiring a connection and every statement (default 3 s).
    #[must_use]
    pub fn timeout(self, timeout: Duration) -> Self {
        self.set(|s| s.timeout = timeout)
    }

    /// Puts `prefix` before session ids in the `id` column (default `session:`).
    #[must_use]
    pub fn key_prefix(self, prefix: impl Into<String>) -> Self {
        self.set(|s| s.key_prefix = prefix.into())
    }

    /// Holds at most `n` connections (`?max_connections=`, default 10).
    #[must_use]
    pub fn max_connections(self, n: u32) -> Self {
        self.set(|s| s.max_connections = n.max(1))
    }

    /// Deletes at most `rows` expired rows per statement in `clear_expired` (default 1,000).
    #[must_use]
    pub fn clear_batch(self, rows: u64) -> Self {
        self.set(|s| s.clear_batch = rows.max(1))
    }

    /// Takes the clock, key prefix, timeout, profile and keys from `options`.
    #[must_use]
    pub fn options(self, options: &OpenOptions) -> Self {
        self.set(|s| s.keys = options.keys.clone())
            .clock(options.clock.clone())
            .key_prefix(options.key_prefix.clone())
            .timeout(options.timeout)
            .profile(options.profile, options.policy)
    }
}

/// What every SQL store holds besides its pool.
#[derive(Clone)]
pub(crate) struct Common {
    pub(crate) table: Ident,
    pub(crate) clock: SharedClock,
    pub(crate) timeout: Duration,
    pub(crate) key_prefix: String,
    pub(crate) clear_batch: u64,
}

impl fmt::Debug for Common {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Common")
            .field("table", &self.table.as_str())
            .field("timeout", &self.timeout)
            .field("key_prefix", &self.key_prefix)
            .field("clear_batch", &self.clear_batch)
            .finish_non_exhaustive()
    }
}

impl Common {
    /// The common part of a store keeping `layout` (whose table name is the default).
    pub(crate) fn new(settings: &Settings, layout: &table::Table) -> Result<Self, Error> {
        let table = if settings.table_given {
            &settings.table
        } else {
            layout.default_name
        };
        Ok(Self {
            table: Ident::new("table", table)?,
            clock: settings.clock.clone(),
            timeout: settings.timeout,
            key_prefix: settings.key_prefix.clone(),
            clear_batch: settings.clear_batch,
        })
    }

    /// A versioned write's outcome from the number of rows it changed.
    pub(crate) fn written_if(rows: u64, from: Version) -> Saved {
        if rows == 1 {
            Saved::Written(from.next())
        } else {
            Saved::Conflict
        }
    }

    /// The `id` column's value for a session.
    pub(crate) fn key(&self, id: &SessionId) -> String {
        format!("{}{}", self.key_prefix, id.expose())
    }

    /// The session table's key column value for `id`, if `layout` takes it (Django's keys
    /// only): the key prefix and the id, or the bare id.
    pub(crate) fn key_param(
        &self,
        codec: &crate::codec::SharedCodec,
        layout: &table::Table,
        id: &SessionId,
    ) -> Option<table::Param> {
        if !codec.accepts_id(id) {
            return None;
        }
        Some(table::Param::Text(if layout.prefixed {
            self.key(id)
        } else {
            id.expose().to_owned()
        }))
    }

    /// Whether `record` is already expired by this store's clock.
    pub(crate) fn is_expired(&self, record: &Record) -> bool {
        record.is_expired(self.clock.now())
    }

    /// Runs one database call within the timeout, mapping its error.
    pub(crate) async fn bounded<T>(
        &self,
        op: &'static str,
        is_timeout: fn(&sqlx::Error) -> bool,
        fut: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, Error> {
        let after = self.timeout;
        match tokio::time::timeout(after, fut).await {
            Err(_) => Err(Error::Timeout { op, after }),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) if matches!(e, sqlx::Error::PoolTimedOut) || is_timeout(&e) => {
                Err(Error::Timeout { op, after })
            }
            Ok(Err(e)) => Err(Error::unavailable(op, e)),
        }
    }

    /// Deletes expired rows one batch at a time until a batch comes back short, calling
    /// `progress` with the running total after each batch that deleted something.
    pub(crate) async fn clear_in_batches<F, Fut>(
        &self,
        mut delete_batch: F,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, Error>
    where
        F: FnMut(OffsetDateTime, i64) -> Fut,
        Fut: Future<Output = Result<u64, Error>>,
    {
        let now = self.clock.now();
        let batch = i64::try_from(self.clear_batch).unwrap_or(i64::MAX);
        let mut total = 0;
        loop {
            let removed = delete_batch(now, batch).await?;
            total += removed;
            if removed > 0 {
                progress(total);
            }
            if removed < self.clear_batch {
                tracing::debug!(
                    table = self.table.as_str(),
                    total,
                    "cleared expired sessions"
                );
                return Ok(total);
            }
        }
    }
}

/// A connection error's text with the URL's password (if any) replaced by `***`.
fn scrub(text: String, url: &str) -> String {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
    {
        Some(password) if !password.is_empty() => text.replace(&password, "***"),
        _ => text,
    }
}

/// A version number in the database's signed `BIGINT`.
pub(crate) fn db_version(version: Version) -> i64 {
    // Versions count up by one per write from 1; 2^63 writes do not happen.
    i64::try_from(version.get()).unwrap_or(i64::MAX)
}

/// A stable 64-bit number naming a table, for the database's advisory locks.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn lock_key(qualified_table: &str) -> [u8; 8] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("tessera-migrate:{qualified_table}"));
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_validated() {
        for good in ["tessera_sessions", "S", "_x1", &"a".repeat(48)] {
            assert!(Ident::new("table", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1x",
            "a-b",
            "a b",
            "x;drop",
            "\"x\"",
            "é",
            &"a".repeat(49),
        ] {
            assert!(Ident::new("table", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tessera_parameters_are_taken_out_of_the_url() {
        let b = SqlStoreBuilder::<()>::parse(
            "postgres://u:pw@h/db?table=t1&sslmode=disable&migrate=false&schema=s&max_connections=3",
            &["postgres"],
            true,
        )
        .unwrap();
        let s = &b.settings;
        assert_eq!(s.url, "postgres://u:pw@h/db?sslmode=disable");
        assert_eq!(s.table, "t1");
        assert_eq!(s.schema.as_deref(), Some("s"));
        assert_eq!(s.migrate, Some(false));
        assert_eq!(s.max_connections, 3);
        assert!(!format!("{b:?}").contains("pw"));
        assert!(SqlStoreBuilder::<()>::parse("mysql://h/db?schema=s", &["mysql"], false).is_err());
        assert!(
            SqlStoreBuilder::<()>::parse("mysql://h/db?migrate=maybe", &["mysql"], false).is_err()
        );
        assert!(SqlStoreBuilder::<()>::parse("redis://h", &["mysql"], false).is_err());
        let err = SqlStoreBuilder::<()>::parse("redis://u:hunter2@h", &["mysql"], false)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
