//! [`DjangoDbStore`]: sessions in Django's own `django_session` table (the `db` and `cached_db`
//! engines' layout), on PostgreSQL (feature `postgres`) or SQLite (feature `sqlite`).
//!
//! The table is Django's, made by `manage.py migrate` (the `sessions` app's `0001_initial`):
//!
//! | column | PostgreSQL | SQLite | holds |
//! |---|---|---|---|
//! | `session_key` | `varchar(40)` primary key | `varchar(40)` primary key | the bare session key |
//! | `session_data` | `text` | `text` | `signing.dumps(dict, salt="django.contrib.sessions.SessionStore", compress=True)` |
//! | `expire_date` | `timestamp with time zone`, indexed | `datetime` (text, UTC, `str(datetime)`), indexed | the deadline |
//!
//! tessera never alters that table. It does not create it either unless the URL says
//! `migrate=true`, and then only with the exact schema Django's migration makes (for a Rust
//! service that starts before any Django app has migrated); by default a missing table is an
//! error at startup that says to run `manage.py migrate sessions`.
//!
//! Django's rows carry no version, so a conditional write compares a hash of the stored
//! `session_data` inside one transaction that holds the row (`SELECT … FOR UPDATE` on
//! PostgreSQL, `BEGIN IMMEDIATE` on SQLite); creating a session is one
//! `INSERT … ON CONFLICT DO UPDATE … WHERE expire_date <= now` that never overwrites a live row.
//! Expired rows are never loaded; [`clear_expired`](SessionStore::clear_expired) deletes
//! `expire_date < now` in batches, as `manage.py clearsessions` does.

use std::fmt;

use async_trait::async_trait;
use time::OffsetDateTime;

#[cfg(feature = "postgres")]
use sqlx::postgres::PgPool;
#[cfg(feature = "sqlite")]
use sqlx::sqlite::SqlitePool;

use super::Common;
use crate::crypto::KeyRing;
use crate::id::SessionId;
use crate::interop::django::{decode_session_data, encode_session_data};
use crate::interop::Profile;
use crate::record::{Record, Version};
use crate::store::{redact_url, Error, Expected, Loaded, OpenOptions, Saved, SessionStore};

/// The table Django's `sessions` app creates.
pub const DJANGO_TABLE: &str = "django_session";

#[derive(Clone)]
enum Pool {
    #[cfg(feature = "postgres")]
    Postgres(PgPool),
    #[cfg(feature = "sqlite")]
    Sqlite(SqlitePool),
}

/// Sessions in Django's `django_session` table, read and written exactly as Django 5.2's `db`
/// engine does, so a Rust service and a Django app share logins through one database.
///
/// Open it with [`open`](crate::store::open) (or [`DjangoDbStore::open`]) and the `django`
/// profile: `SESSION_PROFILE=django SESSION_URL=postgres://…/app` (or `sqlite:///path/db.sqlite3`).
/// URL parameters: `table` (default `django_session`, Django's `db_table`), `schema`
/// (PostgreSQL), `migrate=true` (create the table with Django's schema if missing; off by
/// default, the table belongs to Django's migrations), `max_connections`. The secret key ring
/// must be Django's `SECRET_KEY` and `SECRET_KEY_FALLBACKS`.
///
/// Keys Django would not make (fewer than 8 or more than 40 characters, or any character
/// outside `[a-z0-9]`) are never looked up: such a session does not exist, and saving under
/// one is [`Error::RefusedId`].
///
/// ```no_run
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::crypto::{KeyRing, SecretKey};
/// use tessera::store::{open, OpenOptions};
/// use tessera::{ExpiryPolicy, Profile};
///
/// let keys = KeyRing::new(SecretKey::new("the Django project's SECRET_KEY, 32+ bytes").unwrap());
/// let options = OpenOptions::default()
///     .with_profile(Profile::Django, ExpiryPolicy::default())
///     .with_keys(keys);
/// let store = open("postgres://app@127.0.0.1/app", &options).await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Clone)]
pub struct DjangoDbStore {
    pool: Pool,
    common: Common,
    keys: KeyRing,
    sql: Statements,
}

impl fmt::Debug for DjangoDbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let database = match self.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => "postgres",
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => "sqlite",
        };
        f.debug_struct("DjangoDbStore")
            .field("database", &database)
            .field("table", &self.sql.table)
            .field("timeout", &self.common.timeout)
            .finish_non_exhaustive()
    }
}

/// The statements for one database and table. `$1`-style placeholders work on both.
#[derive(Debug, Clone)]
struct Statements {
    table: String,
    create: Vec<String>,
    probe: String,
    load: String,
    lock: String,
    live: String,
    insert: String,
    update: String,
    delete: String,
    touch: String,
    clear_batch: String,
}

impl Statements {
    /// PostgreSQL: `expire_date` is a `timestamptz`, compared with `to_timestamp(unix)`.
    #[cfg(feature = "postgres")]
    fn postgres(t: &str, bare: &str) -> Self {
        let (expire_index, like_index) = index_names(bare);
        Self {
            create: vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\"session_key\" varchar(40) NOT NULL PRIMARY KEY, \
                     \"session_data\" text NOT NULL, \"expire_date\" timestamp with time zone NOT NULL)"
                ),
                format!("CREATE INDEX IF NOT EXISTS \"{expire_index}\" ON {t} (\"expire_date\")"),
                format!(
                    "CREATE INDEX IF NOT EXISTS \"{like_index}\" ON {t} (\"session_key\" varchar_pattern_ops)"
                ),
            ],
            probe: format!("SELECT session_key, session_data, expire_date FROM {t} LIMIT 0"),
            load: format!(
                "SELECT session_data, floor(extract(epoch FROM expire_date))::bigint FROM {t} \
                 WHERE session_key = $1 AND expire_date > to_timestamp($2)"
            ),
            lock: format!(
                "SELECT session_data FROM {t} WHERE session_key = $1 \
                 AND expire_date > to_timestamp($2) FOR UPDATE"
            ),
            live: format!(
                "SELECT 1 FROM {t} WHERE session_key = $1 AND expire_date > to_timestamp($2)"
            ),
            insert: format!(
                "INSERT INTO {t} AS s (session_key, session_data, expire_date) \
                 VALUES ($1, $2, to_timestamp($3)) ON CONFLICT (session_key) DO UPDATE \
                 SET session_data = EXCLUDED.session_data, expire_date = EXCLUDED.expire_date \
                 WHERE s.expire_date <= to_timestamp($4) RETURNING 1"
            ),
            update: format!(
                "UPDATE {t} SET session_data = $1, expire_date = to_timestamp($2) WHERE session_key = $3"
            ),
            delete: format!("DELETE FROM {t} WHERE session_key = $1"),
            touch: format!(
                "UPDATE {t} SET expire_date = to_timestamp($1) \
                 WHERE session_key = $2 AND expire_date > to_timestamp($3)"
            ),
            clear_batch: format!(
                "DELETE FROM {t} WHERE session_key IN (SELECT session_key FROM {t} \
                 WHERE expire_date < to_timestamp($1) LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 AND expire_date < to_timestamp($1)"
            ),
            table: t.to_owned(),
        }
    }

    /// SQLite: `expire_date` is Django's text (`str()` of a naive UTC datetime), which sorts
    /// as time does, so comparisons are on text written the same way.
    #[cfg(feature = "sqlite")]
    fn sqlite(t: &str, bare: &str) -> Self {
        let (expire_index, _) = index_names(bare);
        Self {
            create: vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\"session_key\" varchar(40) NOT NULL PRIMARY KEY, \
                     \"session_data\" text NOT NULL, \"expire_date\" datetime NOT NULL)"
                ),
                format!("CREATE INDEX IF NOT EXISTS \"{expire_index}\" ON {t} (\"expire_date\")"),
            ],
            probe: format!("SELECT session_key, session_data, expire_date FROM {t} LIMIT 0"),
            load: format!(
                "SELECT session_data, expire_date FROM {t} WHERE session_key = ?1 AND expire_date > ?2"
            ),
            lock: format!(
                "SELECT session_data FROM {t} WHERE session_key = ?1 AND expire_date > ?2"
            ),
            live: format!("SELECT 1 FROM {t} WHERE session_key = ?1 AND expire_date > ?2"),
            insert: format!(
                "INSERT INTO {t} (session_key, session_data, expire_date) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (session_key) DO UPDATE \
                 SET session_data = excluded.session_data, expire_date = excluded.expire_date \
                 WHERE {t}.expire_date <= ?4 RETURNING 1"
            ),
            update: format!(
                "UPDATE {t} SET session_data = ?1, expire_date = ?2 WHERE session_key = ?3"
            ),
            delete: format!("DELETE FROM {t} WHERE session_key = ?1"),
            touch: format!(
                "UPDATE {t} SET expire_date = ?1 WHERE session_key = ?2 AND expire_date > ?3"
            ),
            clear_batch: format!(
                "DELETE FROM {t} WHERE rowid IN \
                 (SELECT rowid FROM {t} WHERE expire_date < ?1 LIMIT ?2)"
            ),
            table: t.to_owned(),
        }
    }
}

/// The index names Django's migration gives `django_session`; other tables get plain names.
fn index_names(table: &str) -> (String, String) {
    if table == DJANGO_TABLE {
        (
            "django_session_expire_date_a5c62663".to_owned(),
            "django_session_session_key_c0390e0f_like".to_owned(),
        )
    } else {
        (
            format!("{table}_expire_date"),
            format!("{table}_session_key_like"),
        )
    }
}

/// The conditional-write token of a row (`crate::store::content_version`).
fn content_version(session_data: &str) -> Version {
    crate::store::content_version(session_data.as_bytes())
}

#[cfg(feature = "sqlite")]
/// Django's SQLite text for a UTC time, whole seconds (`str(datetime)` without microseconds).
fn sqlite_datetime(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(feature = "sqlite")]
/// Reads Django's SQLite datetime text (UTC, optional fraction and offset), to the second.
fn parse_sqlite_datetime(text: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    let naive = text
        .trim()
        .trim_end_matches("+00:00")
        .trim_end_matches('Z')
        .replacen('T', " ", 1);
    time::PrimitiveDateTime::parse(&naive, &format)
        .ok()
        .map(|at| {
            at.assume_utc()
                .replace_nanosecond(0)
                .unwrap_or(at.assume_utc())
        })
}

fn wants_table(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        url::form_urlencoded::parse(query.as_bytes()).any(|(key, _)| key == "table")
    })
}

fn wants_create(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        url::form_urlencoded::parse(query.as_bytes())
            .any(|(key, value)| key == "migrate" && matches!(&*value, "true" | "1" | "yes"))
    })
}

impl DjangoDbStore {
    /// Connects to the database a `postgres://`, `postgresql://` or `sqlite:` URL names and
    /// checks that the table exists (creating it only with `?migrate=true`). Needs
    /// `options.keys` (Django's `SECRET_KEY`, then its fallbacks).
    pub async fn open(url: &str, options: &OpenOptions) -> Result<Self, Error> {
        let bad = |reason: &str| Error::BadUrl {
            url: redact_url(url),
            reason: reason.to_owned(),
        };
        let keys = options.keys.clone().ok_or_else(|| {
            bad("Django's session_data is signed: set SECRET_KEY (and SECRET_KEY_FALLBACKS) to the Django project's")
        })?;
        let create = wants_create(url);
        let scheme = url.split(':').next().unwrap_or_default();
        let (pool, common, sql) = match scheme {
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                let mut builder = super::PostgresStore::builder(url)?
                    .options(options)
                    // The native store lends its pool and table name; this type keeps the format.
                    .profile(Profile::Native, options.policy);
                if !wants_table(url) {
                    builder = builder.table(DJANGO_TABLE);
                }
                let common = Common::new(&builder.settings, false)?;
                let store = builder.migrate(false).build().await?;
                let sql = Statements::postgres(store.table(), common.table.as_str());
                (Pool::Postgres(store.pool().clone()), common, sql)
            }
            #[cfg(feature = "sqlite")]
            "sqlite" => {
                let mut builder = super::SqliteStore::builder(url)?
                    .options(options)
                    .profile(Profile::Native, options.policy)
                    .keep_journal_mode();
                if !wants_table(url) {
                    builder = builder.table(DJANGO_TABLE);
                }
                let common = Common::new(&builder.settings, false)?;
                let store = builder.migrate(false).build().await?;
                let sql = Statements::sqlite(store.table(), common.table.as_str());
                (Pool::Sqlite(store.pool().clone()), common, sql)
            }
            _ => {
                return Err(bad(
                    "Django's db engine is kept on postgres:// or sqlite: URLs (with the matching cargo feature)",
                ))
            }
        };
        let store = Self {
            pool,
            common,
            keys,
            sql,
        };
        if create {
            store.create_table().await?;
        }
        store.probe(url).await?;
        Ok(store)
    }

    /// The quoted table name.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// Creates the table and its indexes with the schema Django's `sessions` migration makes,
    /// if missing; never alters an existing table.
    pub async fn create_table(&self) -> Result<(), Error> {
        for statement in &self.sql.create {
            self.execute("migrate", statement, |q| q).await?;
        }
        Ok(())
    }

    async fn probe(&self, url: &str) -> Result<(), Error> {
        match self.execute("open", &self.sql.probe, |q| q).await {
            Err(Error::Unavailable { source, .. }) => Err(Error::BadUrl {
                url: redact_url(url),
                reason: format!(
                    "cannot read Django's session table {} ({source}); run `manage.py migrate sessions` first, or add ?migrate=true to let tessera create it",
                    self.sql.table
                ),
            }),
            other => other.map(|_| ()),
        }
    }

    fn now(&self) -> OffsetDateTime {
        self.common.clock.now()
    }

    fn key<'a>(&self, id: &'a SessionId) -> Option<&'a str> {
        Profile::Django.accepts_id(id).then_some(id.expose())
    }

    /// Runs one statement with parameters bound by `bind` on whichever database; returns the
    /// rows it changed.
    async fn execute(
        &self,
        op: &'static str,
        statement: &str,
        bind: impl for<'q> FnOnce(Binds<'q>) -> Binds<'q>,
    ) -> Result<u64, Error> {
        let binds = bind(Binds::default());
        match &self.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => {
                let query = binds.postgres(sqlx::query(statement));
                let done = self
                    .common
                    .bounded(op, pg_timeout, query.execute(pool))
                    .await?;
                Ok(done.rows_affected())
            }
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => {
                let query = binds.sqlite(sqlx::query(statement));
                let done = self
                    .common
                    .bounded(op, sqlite_timeout, query.execute(pool))
                    .await?;
                Ok(done.rows_affected())
            }
        }
    }

    /// A time as the `expire_date` parameter of this database.
    fn at<'q>(&self, binds: Binds<'q>, at: OffsetDateTime) -> Binds<'q> {
        match &self.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => binds.float(at.unix_timestamp() as f64),
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => binds.text(sqlite_datetime(at)),
        }
    }

    fn decode(
        &self,
        id: &SessionId,
        data: &str,
        expires_at: OffsetDateTime,
    ) -> Result<Loaded, Error> {
        let record =
            decode_session_data(&self.keys, data, expires_at).map_err(|e| Error::corrupt(id, e))?;
        Ok(Loaded {
            record,
            version: content_version(data),
        })
    }

    /// The conditional update: hold the row, compare its content's hash, write or delete.
    async fn update(
        &self,
        key: &str,
        record: &Record,
        expected: Version,
        now: OffsetDateTime,
    ) -> Result<Saved, Error> {
        let expired = record.is_expired(now);
        let data = encode_session_data(&self.keys, record, now);
        let new_version = content_version(&data);
        let now_param = self.at(Binds::default(), now);
        let deadline = self.at(Binds::default(), record.expires_at);
        match &self.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => {
                self.common
                    .bounded("save", pg_timeout, async {
                        let mut tx = pool.begin().await?;
                        let current: Option<String> = now_param
                            .postgres_scalar(sqlx::query_scalar(&self.sql.lock).bind(key))
                            .fetch_optional(&mut *tx)
                            .await?;
                        if current.as_deref().map(content_version) != Some(expected) {
                            tx.rollback().await?;
                            return Ok(Saved::Conflict);
                        }
                        if expired {
                            sqlx::query(&self.sql.delete)
                                .bind(key)
                                .execute(&mut *tx)
                                .await?;
                        } else {
                            deadline
                                .postgres(sqlx::query(&self.sql.update).bind(&data))
                                .bind(key)
                                .execute(&mut *tx)
                                .await?;
                        }
                        tx.commit().await?;
                        Ok(Saved::Written(new_version))
                    })
                    .await
            }
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => {
                self.common
                    .bounded("save", sqlite_timeout, async {
                        // BEGIN IMMEDIATE takes the write lock before the read.
                        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                        let current: Option<String> = now_param
                            .sqlite_scalar(sqlx::query_scalar(&self.sql.lock).bind(key))
                            .fetch_optional(&mut *tx)
                            .await?;
                        if current.as_deref().map(content_version) != Some(expected) {
                            tx.rollback().await?;
                            return Ok(Saved::Conflict);
                        }
                        if expired {
                            sqlx::query(&self.sql.delete)
                                .bind(key)
                                .execute(&mut *tx)
                                .await?;
                        } else {
                            deadline
                                .sqlite(sqlx::query(&self.sql.update).bind(&data))
                                .bind(key)
                                .execute(&mut *tx)
                                .await?;
                        }
                        tx.commit().await?;
                        Ok(Saved::Written(new_version))
                    })
                    .await
            }
        }
    }

    /// Creates the row unless a live one exists (an expired one is replaced).
    async fn insert(
        &self,
        key: &str,
        record: &Record,
        now: OffsetDateTime,
    ) -> Result<Saved, Error> {
        if record.is_expired(now) {
            let live = self.execute_fetch("save", &self.sql.live, key, now).await?;
            return Ok(if live {
                Saved::Conflict
            } else {
                Saved::Written(Version::FIRST)
            });
        }
        let data = encode_session_data(&self.keys, record, now);
        let version = content_version(&data);
        let binds = self.at(self.at(Binds::default(), record.expires_at), now);
        let inserted = match &self.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => {
                let query = binds.postgres_scalar::<i32>(
                    sqlx::query_scalar(&self.sql.insert).bind(key).bind(&data),
                );
                self.common
                    .bounded("save", pg_timeout, query.fetch_optional(pool))
                    .await?
                    .is_some()
            }
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => {
                let query = binds.sqlite_scalar::<i32>(
                    sqlx::query_scalar(&self.sql.insert).bind(key).bind(&data),
                );
                self.common
                    .bounded("save", sqlite_timeout, query.fetch_optional(pool))
                    .await?
                    .is_some()
            }
        };
        Ok(if inserted {
            Saved::Written(version)
        } else {
            Saved::Conflict
        })
    }

    /// Whether `statement` (key, now) returns a row.
    async fn execute_fetch(
        &self,
        op: &'static str,
        statement: &str,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<bool, Error> {
        let binds = self.at(Binds::default(), now);
        match &self.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => {
                let query = binds.postgres_scalar::<i32>(sqlx::query_scalar(statement).bind(key));
                Ok(self
                    .common
                    .bounded(op, pg_timeout, query.fetch_optional(pool))
                    .await?
                    .is_some())
            }
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => {
                let query = binds.sqlite_scalar::<i32>(sqlx::query_scalar(statement).bind(key));
                Ok(self
                    .common
                    .bounded(op, sqlite_timeout, query.fetch_optional(pool))
                    .await?
                    .is_some())
            }
        }
    }

    /// [`clear_expired`](SessionStore::clear_expired), reporting the running total after each
    /// batch.
    pub async fn clear_expired_with_progress(
        &self,
        progress: impl FnMut(u64),
    ) -> Result<u64, Error> {
        let now = self.now();
        self.common
            .clear_in_batches(
                |_, batch| async move {
                    self.execute("clear_expired", &self.sql.clear_batch, |b| {
                        self.at(b, now).int(batch)
                    })
                    .await
                },
                progress,
            )
            .await
    }
}

/// Parameters collected before the database is known, bound in order.
#[derive(Default)]
struct Binds<'q> {
    values: Vec<Bind>,
    _lifetime: std::marker::PhantomData<&'q ()>,
}

enum Bind {
    #[cfg(feature = "postgres")]
    Float(f64),
    Text(String),
    Int(i64),
}

impl<'q> Binds<'q> {
    #[cfg(feature = "postgres")]
    fn float(mut self, v: f64) -> Self {
        self.values.push(Bind::Float(v));
        self
    }
    fn text(mut self, v: String) -> Self {
        self.values.push(Bind::Text(v));
        self
    }
    fn int(mut self, v: i64) -> Self {
        self.values.push(Bind::Int(v));
        self
    }
    fn key(self, key: &str) -> Self {
        self.text(key.to_owned())
    }

    #[cfg(feature = "postgres")]
    fn postgres(
        self,
        mut q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        for v in self.values {
            q = match v {
                #[cfg(feature = "postgres")]
                Bind::Float(f) => q.bind(f),
                Bind::Text(t) => q.bind(t),
                Bind::Int(i) => q.bind(i),
            };
        }
        q
    }

    #[cfg(feature = "postgres")]
    fn postgres_scalar<O>(
        self,
        mut q: sqlx::query::QueryScalar<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryScalar<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
        for v in self.values {
            q = match v {
                #[cfg(feature = "postgres")]
                Bind::Float(f) => q.bind(f),
                Bind::Text(t) => q.bind(t),
                Bind::Int(i) => q.bind(i),
            };
        }
        q
    }

    #[cfg(feature = "sqlite")]
    fn sqlite(
        self,
        mut q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
        for v in self.values {
            q = match v {
                #[cfg(feature = "postgres")]
                Bind::Float(f) => q.bind(f),
                Bind::Text(t) => q.bind(t),
                Bind::Int(i) => q.bind(i),
            };
        }
        q
    }

    #[cfg(feature = "sqlite")]
    fn sqlite_scalar<O>(
        self,
        mut q: sqlx::query::QueryScalar<'q, sqlx::Sqlite, O, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> sqlx::query::QueryScalar<'q, sqlx::Sqlite, O, sqlx::sqlite::SqliteArguments<'q>> {
        for v in self.values {
            q = match v {
                #[cfg(feature = "postgres")]
                Bind::Float(f) => q.bind(f),
                Bind::Text(t) => q.bind(t),
                Bind::Int(i) => q.bind(i),
            };
        }
        q
    }
}

#[cfg(feature = "postgres")]
fn pg_timeout(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| code == "57014" || code == "55P03")
}

#[cfg(feature = "sqlite")]
fn sqlite_timeout(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|code| code.parse::<u32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

#[async_trait]
impl SessionStore for DjangoDbStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        let Some(key) = self.key(id) else {
            return Ok(None);
        };
        let binds = self.at(Binds::default().key(key), self.now());
        let row: Option<(String, OffsetDateTime)> = match &self.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => {
                let query = binds.postgres(sqlx::query(&self.sql.load));
                let row = self
                    .common
                    .bounded("load", pg_timeout, query.fetch_optional(pool))
                    .await?;
                match row {
                    None => None,
                    Some(row) => {
                        let data: String =
                            sqlx::Row::try_get(&row, 0).map_err(|e| Error::corrupt(id, e))?;
                        let unix: i64 =
                            sqlx::Row::try_get(&row, 1).map_err(|e| Error::corrupt(id, e))?;
                        let at = OffsetDateTime::from_unix_timestamp(unix)
                            .map_err(|e| Error::corrupt(id, e))?;
                        Some((data, at))
                    }
                }
            }
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => {
                let query = binds.sqlite(sqlx::query(&self.sql.load));
                let row = self
                    .common
                    .bounded("load", sqlite_timeout, query.fetch_optional(pool))
                    .await?;
                match row {
                    None => None,
                    Some(row) => {
                        let data: String =
                            sqlx::Row::try_get(&row, 0).map_err(|e| Error::corrupt(id, e))?;
                        let text: String =
                            sqlx::Row::try_get(&row, 1).map_err(|e| Error::corrupt(id, e))?;
                        let at = parse_sqlite_datetime(&text).ok_or_else(|| {
                            Error::corrupt(id, "expire_date is not a Django datetime")
                        })?;
                        Some((data, at))
                    }
                }
            }
        };
        row.map(|(data, at)| self.decode(id, &data, at)).transpose()
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error> {
        let key = self.key(id).ok_or_else(|| Error::RefusedId {
            id: id.clone(),
            reason: "Django's session keys are 8 to 40 characters of a-z and 0-9",
        })?;
        let now = self.now();
        match expected {
            Expected::Absent => self.insert(key, record, now).await,
            Expected::Version(v) => self.update(key, record, v, now).await,
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        if let Some(key) = self.key(id) {
            self.execute("delete", &self.sql.delete, |b| b.key(key))
                .await?;
        }
        Ok(())
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error> {
        let Some(key) = self.key(id) else {
            return Ok(false);
        };
        let now = self.now();
        let done = self
            .execute("touch", &self.sql.touch, |b| {
                self.at(self.at(b, expires_at).key(key), now)
            })
            .await?;
        Ok(done == 1)
    }

    async fn clear_expired(&self) -> Result<u64, Error> {
        self.clear_expired_with_progress(|_| {}).await
    }

    fn profile(&self) -> Profile {
        Profile::Django
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_datetimes_are_djangos_text() {
        let at = datetime!(2030-01-02 03:04:05 UTC);
        assert_eq!(sqlite_datetime(at), "2030-01-02 03:04:05");
        for text in [
            "2030-01-02 03:04:05",
            "2030-01-02 03:04:05.123456",
            "2030-01-02T03:04:05+00:00",
        ] {
            assert_eq!(parse_sqlite_datetime(text), Some(at), "{text}");
        }
        assert_eq!(parse_sqlite_datetime("yesterday"), None);
        // Django's text with microseconds sorts after the whole second, as the time does.
        assert!("2030-01-02 03:04:05.5" > sqlite_datetime(at).as_str());
    }

    #[test]
    fn url_parameters() {
        assert!(wants_table("postgres://h/db?table=x"));
        assert!(!wants_table("postgres://h/db?tablex=x"));
        assert!(wants_create("sqlite:///a.db?migrate=true"));
        assert!(!wants_create("sqlite:///a.db"));
        assert_eq!(
            index_names("django_session").0,
            "django_session_expire_date_a5c62663"
        );
    }

    #[test]
    fn versions_follow_the_content() {
        assert_eq!(content_version("a"), content_version("a"));
        assert_ne!(content_version("a"), content_version("b"));
    }
}
