//! SQL stores through [sqlx]: [`PostgresStore`] (feature `postgres`), [`MySqlStore`]
//! (feature `mysql`, MySQL and MariaDB) and [`SqliteStore`] (feature `sqlite`, bundled SQLite).
//!
//! Every store keeps one table (default `tessera_sessions`, Flask-Session's
//! `SESSION_SQLALCHEMY_TABLE`), with the same columns in each database's own types:
//!
//! | column | PostgreSQL | MySQL / MariaDB | SQLite | holds |
//! |---|---|---|---|---|
//! | `id` | `TEXT` primary key | `VARBINARY(255)` primary key | `TEXT` primary key | key prefix + session id |
//! | `data` | `BYTEA` | `LONGBLOB` | `BLOB` | [`Record::encode`](crate::Record::encode) (compact JSON) |
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
//! update; the loser gets [`Saved::Conflict`] and the middleware
//! retries. A store answers a lost write after a short random pause, whose window grows while
//! writes keep colliding (1 to 64 ms) and shrinks again as they succeed, so a burst of requests
//! on one session spreads out instead of retrying in lockstep.
//!
//! The constructor runs [`migrate`](PostgresStore::migrate) (create the table and its index if
//! missing, under a database lock so app servers starting together do not race) unless the URL
//! says `migrate=false` or the builder [`SqlStoreBuilder::migrate`] turns it off.
//!
//! URL query parameters read by tessera (the rest go to sqlx):
//!
//! | parameter | default | meaning |
//! |---|---|---|
//! | `table` | `tessera_sessions` (`sessions` with the `flask-session` profile) | table name: letters, digits and `_`, at most 48 characters |
//! | `schema` | the search path | PostgreSQL only: the table's schema (created if missing) |
//! | `migrate` | `true` | `false`: do not create or upgrade the table at start |
//! | `max_connections` | `10` | pool size |
//!
//! PostgreSQL and SQLite also keep Flask-Session 0.8's `sessions` table when opened with the
//! `flask-session` profile: see [`flask_session`].

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use time::OffsetDateTime;

use super::{redact_url, Error, Loaded, OpenOptions, Saved};
use crate::clock::{self, SharedClock};
use crate::expiry::ExpiryPolicy;
use crate::id::SessionId;
use crate::interop::Profile;
use crate::record::{Record, Version};

#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod django;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub mod flask_session;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use django::{DjangoDbStore, DJANGO_TABLE};
#[cfg(feature = "mysql")]
pub use mysql::MySqlStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

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
    pub(crate) table: String,
    /// Whether the table was named (else the profile's default applies).
    pub(crate) table_given: bool,
    pub(crate) schema: Option<String>,
    pub(crate) migrate: bool,
    pub(crate) clock: SharedClock,
    pub(crate) timeout: Duration,
    pub(crate) key_prefix: String,
    pub(crate) max_connections: u32,
    pub(crate) clear_batch: u64,
    pub(crate) profile: Profile,
    pub(crate) policy: ExpiryPolicy,
    /// SQLite: switch the file to write-ahead logging (off for a database another program
    /// owns, such as a Django project's).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) wal: bool,
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
            table: DEFAULT_TABLE.to_owned(),
            table_given: false,
            schema: None,
            migrate: true,
            clock: clock::system(),
            timeout: crate::config::DEFAULT_STORE_TIMEOUT,
            key_prefix: OpenOptions::default().key_prefix,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            clear_batch: DEFAULT_CLEAR_BATCH,
            profile: Profile::Native,
            policy: ExpiryPolicy::default(),
            wal: true,
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
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
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

    /// Uses table `name` (`?table=`); letters, digits and `_` only.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.settings.table = name.into();
        self.settings.table_given = true;
        self
    }

    /// Keeps `profile`'s table: [`Profile::Native`] (the default) or, on PostgreSQL and
    /// SQLite, [`Profile::FlaskSession`] (Flask-Session 0.8's `sessions` table, see
    /// [`flask_session`]), whose `_permanent` flag `policy` interprets.
    pub fn profile(mut self, profile: Profile, policy: ExpiryPolicy) -> Self {
        self.settings.profile = profile;
        self.settings.policy = policy;
        self
    }

    /// Whether to create or upgrade the table when connecting (`?migrate=`, default `true`).
    pub fn migrate(mut self, on: bool) -> Self {
        self.settings.migrate = on;
        self
    }

    /// Judges expiry by `clock` (default: the system clock).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.settings.clock = clock;
        self
    }

    /// Bounds connecting, acquiring a connection and every statement (default 3 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// Puts `prefix` before session ids in the `id` column (default `session:`).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.key_prefix = prefix.into();
        self
    }

    /// Holds at most `n` connections (`?max_connections=`, default 10).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.settings.max_connections = n.max(1);
        self
    }

    /// Deletes at most `rows` expired rows per statement in `clear_expired` (default 1,000).
    pub fn clear_batch(mut self, rows: u64) -> Self {
        self.settings.clear_batch = rows.max(1);
        self
    }

    /// Takes the clock, key prefix, timeout and profile from `options`.
    pub fn options(self, options: &OpenOptions) -> Self {
        self.clock(options.clock.clone())
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
    /// `Some` with the `flask-session` profile: Flask-Session's table, read with this policy.
    #[cfg_attr(not(any(feature = "postgres", feature = "sqlite")), allow(dead_code))]
    pub(crate) flask: Option<ExpiryPolicy>,
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
    /// The common part of a store; `flask_session` says whether the store keeps the
    /// `flask-session` profile's table (the profiles it does not keep are refused here).
    pub(crate) fn new(settings: &Settings, flask_session: bool) -> Result<Self, Error> {
        let flask = match settings.profile {
            Profile::Native => None,
            Profile::FlaskSession if flask_session => Some(settings.policy),
            other => {
                return Err(Error::BadUrl {
                    url: redact_url(&settings.url),
                    reason: format!("this SQL store does not keep the {other} profile's table"),
                })
            }
        };
        let table = match (flask, settings.table_given) {
            #[cfg(any(feature = "postgres", feature = "sqlite"))]
            (Some(_), false) => flask_session::DEFAULT_TABLE,
            _ => &settings.table,
        };
        Ok(Self {
            flask,
            table: Ident::new("table", table)?,
            clock: settings.clock.clone(),
            timeout: settings.timeout,
            key_prefix: settings.key_prefix.clone(),
            clear_batch: settings.clear_batch,
        })
    }

    /// A versioned write's outcome from the number of rows it changed.
    pub(crate) fn written_if(&self, rows: u64, from: Version) -> Saved {
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

    /// The clock's now, in the `expires_at` column's unit.
    pub(crate) fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
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
        F: FnMut(i64, i64) -> Fut,
        Fut: Future<Output = Result<u64, Error>>,
    {
        let now = self.now();
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
pub(crate) fn scrub(text: String, url: &str) -> String {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
    {
        Some(password) if !password.is_empty() => text.replace(&password, "***"),
        _ => text,
    }
}

/// Seconds since the Unix epoch, the `expires_at` column's unit.
pub(crate) fn unix(at: OffsetDateTime) -> i64 {
    at.unix_timestamp()
}

/// A row back into a [`Loaded`]; the `expires_at` column wins over the deadline inside `data`,
/// because `touch` moves only the column.
pub(crate) fn decode_row(
    id: &SessionId,
    data: &[u8],
    expires_at: i64,
    version: i64,
) -> Result<Loaded, Error> {
    let mut record = Record::decode(data).map_err(|e| Error::corrupt(id, e))?;
    record.expires_at =
        OffsetDateTime::from_unix_timestamp(expires_at).map_err(|e| Error::corrupt(id, e))?;
    let version = u64::try_from(version).map_err(|e| Error::corrupt(id, e))?;
    Ok(Loaded {
        record,
        version: Version::new(version),
    })
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

/// `clear_expired_with_progress` and the [`SessionStore`](crate::store::SessionStore) impl of
/// the stores whose statements have the same shape (PostgreSQL and SQLite: an upsert with `RETURNING` creates a session). The
/// store has `pool`, `common`, `sql` and `flask` fields and the methods of
/// `flask_session_methods!`; `$is_timeout` tells a timeout from other database errors.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
macro_rules! upserting_session_store {
    ($store:ty, $is_timeout:path) => {
        impl $store {
            /// [`clear_expired`](crate::store::SessionStore::clear_expired), reporting the
            /// running total of deleted rows after each batch (for a progress display).
            ///
            /// Each batch is one statement deleting at most
            /// [`clear_batch`](crate::store::sql::SqlStoreBuilder::clear_batch) rows, so no lock
            /// is held for long; each is bounded by the store's timeout, the whole run is not.
            pub async fn clear_expired_with_progress(
                &self,
                progress: impl FnMut(u64),
            ) -> Result<u64, $crate::store::Error> {
                self.common
                    .clear_in_batches(
                        |now, batch| async move {
                            if self.common.flask.is_some() {
                                let done = self
                                    .common
                                    .bounded(
                                        "clear_expired",
                                        $is_timeout,
                                        ::sqlx::query(&self.flask.clear_batch)
                                            .bind(
                                                $crate::store::sql::flask_session::expiry_from_unix(
                                                    now,
                                                ),
                                            )
                                            .bind(batch)
                                            .execute(&self.pool),
                                    )
                                    .await?;
                                return Ok(done.rows_affected());
                            }
                            let done = self
                                .common
                                .bounded(
                                    "clear_expired",
                                    $is_timeout,
                                    ::sqlx::query(&self.sql.clear_batch)
                                        .bind(now)
                                        .bind(batch)
                                        .execute(&self.pool),
                                )
                                .await?;
                            Ok(done.rows_affected())
                        },
                        progress,
                    )
                    .await
            }
        }

        #[::async_trait::async_trait]
        impl $crate::store::SessionStore for $store {
            async fn load(
                &self,
                id: &$crate::id::SessionId,
            ) -> Result<Option<$crate::store::Loaded>, $crate::store::Error> {
                if let Some(policy) = self.common.flask {
                    return self.flask_load(id, policy).await;
                }
                let row = self
                    .common
                    .bounded(
                        "load",
                        $is_timeout,
                        ::sqlx::query(&self.sql.load)
                            .bind(self.common.key(id))
                            .bind(self.common.now())
                            .fetch_optional(&self.pool),
                    )
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let data: Vec<u8> = ::sqlx::Row::try_get(&row, 0)
                    .map_err(|e| $crate::store::Error::corrupt(id, e))?;
                let expires_at: i64 = ::sqlx::Row::try_get(&row, 1)
                    .map_err(|e| $crate::store::Error::corrupt(id, e))?;
                let version: i64 = ::sqlx::Row::try_get(&row, 2)
                    .map_err(|e| $crate::store::Error::corrupt(id, e))?;
                $crate::store::sql::decode_row(id, &data, expires_at, version).map(Some)
            }

            async fn save(
                &self,
                id: &$crate::id::SessionId,
                record: &$crate::record::Record,
                expected: $crate::store::Expected,
            ) -> Result<$crate::store::Saved, $crate::store::Error> {
                if let Some(policy) = self.common.flask {
                    return self.flask_save(id, record, expected, policy).await;
                }
                let key = self.common.key(id);
                let now = self.common.now();
                let expired = self.common.is_expired(record);
                match expected {
                    $crate::store::Expected::Absent if expired => {
                        // Nothing to store; the precondition holds unless a live row exists.
                        let live = self
                            .common
                            .bounded(
                                "save",
                                $is_timeout,
                                ::sqlx::query(&self.sql.live)
                                    .bind(key)
                                    .bind(now)
                                    .fetch_optional(&self.pool),
                            )
                            .await?;
                        Ok(match live {
                            Some(_) => $crate::store::Saved::Conflict,
                            None => $crate::store::Saved::Written($crate::record::Version::FIRST),
                        })
                    }
                    $crate::store::Expected::Absent => {
                        let version: Option<i64> = self
                            .common
                            .bounded(
                                "save",
                                $is_timeout,
                                ::sqlx::query_scalar(&self.sql.insert)
                                    .bind(key)
                                    .bind(record.encode())
                                    .bind($crate::store::sql::unix(record.expires_at))
                                    .bind(now)
                                    .fetch_optional(&self.pool),
                            )
                            .await?;
                        match version {
                            Some(v) => {
                                let v = u64::try_from(v)
                                    .map_err(|e| $crate::store::Error::corrupt(id, e))?;
                                Ok($crate::store::Saved::Written($crate::record::Version::new(
                                    v,
                                )))
                            }
                            None => Ok($crate::store::Saved::Conflict),
                        }
                    }
                    $crate::store::Expected::Version(v) if expired => {
                        let done = self
                            .common
                            .bounded(
                                "save",
                                $is_timeout,
                                ::sqlx::query(&self.sql.delete_version)
                                    .bind(key)
                                    .bind($crate::store::sql::db_version(v))
                                    .bind(now)
                                    .execute(&self.pool),
                            )
                            .await?;
                        Ok(self.common.written_if(done.rows_affected(), v))
                    }
                    $crate::store::Expected::Version(v) => {
                        let done = self
                            .common
                            .bounded(
                                "save",
                                $is_timeout,
                                ::sqlx::query(&self.sql.update)
                                    .bind(record.encode())
                                    .bind($crate::store::sql::unix(record.expires_at))
                                    .bind(key)
                                    .bind($crate::store::sql::db_version(v))
                                    .bind(now)
                                    .execute(&self.pool),
                            )
                            .await?;
                        Ok(self.common.written_if(done.rows_affected(), v))
                    }
                }
            }

            async fn delete(&self, id: &$crate::id::SessionId) -> Result<(), $crate::store::Error> {
                if self.common.flask.is_some() {
                    return self.flask_delete(id).await;
                }
                self.common
                    .bounded(
                        "delete",
                        $is_timeout,
                        ::sqlx::query(&self.sql.delete)
                            .bind(self.common.key(id))
                            .execute(&self.pool),
                    )
                    .await?;
                Ok(())
            }

            async fn touch(
                &self,
                id: &$crate::id::SessionId,
                expires_at: ::time::OffsetDateTime,
            ) -> Result<bool, $crate::store::Error> {
                if self.common.flask.is_some() {
                    return self.flask_touch(id, expires_at).await;
                }
                let done = self
                    .common
                    .bounded(
                        "touch",
                        $is_timeout,
                        ::sqlx::query(&self.sql.touch)
                            .bind($crate::store::sql::unix(expires_at))
                            .bind(self.common.key(id))
                            .bind(self.common.now())
                            .execute(&self.pool),
                    )
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn clear_expired(&self) -> Result<u64, $crate::store::Error> {
                self.clear_expired_with_progress(|_| {}).await
            }

            fn profile(&self) -> $crate::interop::Profile {
                match self.common.flask {
                    Some(_) => $crate::interop::Profile::FlaskSession,
                    None => $crate::interop::Profile::Native,
                }
            }
        }
    };
}
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) use upserting_session_store;

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
        assert!(!s.migrate);
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
