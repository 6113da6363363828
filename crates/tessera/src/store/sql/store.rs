//! [`SqlStore`]: one store for every dialect and table layout.

use std::fmt;

use async_trait::async_trait;
use time::OffsetDateTime;

use self::sealed::Driver;
use super::table::{Kind, Param, Statements, Table};
use super::user_index::{self as sql_user_index, IndexStatements, SqlUserIndex};
use super::{Common, SqlStoreBuilder};
use crate::codec::{self, SharedCodec, Versioning};
use crate::id::SessionId;
use crate::interop::Profile;
use crate::record::{Record, Version};
use crate::store::url::redact_url;
use crate::store::{
    content_version, user_index, Error, Expected, Loaded, Saved, SessionStore, UserIndex,
};

/// A column's type as a row is read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Col {
    Int,
    Text,
    Bytes,
}

/// A value read from a row (`NULL` as `None`).
#[derive(Debug)]
pub(crate) enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

/// `params` bound to `q` in order, whatever the dialect.
fn bind<'q, DB>(
    mut q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    params: Vec<Param>,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for p in params {
        q = match p {
            Param::Int(v) => q.bind(v),
            Param::Float(v) => q.bind(v),
            Param::Text(v) => q.bind(v),
            Param::Bytes(v) => q.bind(v),
        };
    }
    q
}

/// The columns `cols` of `row`, in order, whatever the dialect.
fn read<R>(row: &R, cols: &[Col]) -> Result<Vec<Value>, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<Vec<u8>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    cols.iter()
        .enumerate()
        .map(|(i, col)| {
            Ok(match col {
                Col::Int => Value::Int(row.try_get(i)?),
                Col::Text => Value::Text(row.try_get(i)?),
                Col::Bytes => Value::Bytes(row.try_get(i)?),
            })
        })
        .collect()
}

impl Value {
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Self::Int(v) => *v,
            _ => None,
        }
    }

    pub(crate) fn into_bytes(self) -> Option<Vec<u8>> {
        match self {
            Self::Bytes(v) => v,
            Self::Text(v) => v.map(String::into_bytes),
            Self::Int(_) => None,
        }
    }
}

/// What an executed statement reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    pub(crate) rows: u64,
    /// MySQL's `LAST_INSERT_ID()` of the statement (0 elsewhere).
    pub(crate) last_id: u64,
}

impl Done {
    /// `rows` changed, no insert id.
    pub(crate) fn rows(rows: u64) -> Self {
        Self { rows, last_id: 0 }
    }
}

// Sealed: its items name crate-private types on purpose, nothing outside calls them.
#[allow(private_interfaces)]
pub(crate) mod sealed {
    use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Transaction, Type};

    use super::*;

    /// The sqlx calls every dialect makes alike, written once over sqlx's database type: any
    /// database that binds and reads tessera's values has them.
    #[async_trait]
    pub trait Driver: sqlx::Database {
        /// Runs `sql` with `params`.
        async fn execute(
            pool: &Pool<Self>,
            sql: &str,
            params: Vec<Param>,
        ) -> Result<Self::QueryResult, sqlx::Error>;

        /// The columns `cols` of the first row `sql` returns with `params`, if any.
        async fn fetch(
            pool: &Pool<Self>,
            sql: &str,
            params: Vec<Param>,
            cols: &[Col],
        ) -> Result<Option<Vec<Value>>, sqlx::Error>;

        /// The columns `cols` of every row `sql` returns with `params`.
        async fn fetch_all(
            pool: &Pool<Self>,
            sql: &str,
            params: Vec<Param>,
            cols: &[Col],
        ) -> Result<Vec<Vec<Value>>, sqlx::Error>;

        /// A transaction begun with `begin`, or with the database's own `BEGIN` if `None`.
        async fn begin(
            pool: &Pool<Self>,
            begin: Option<&'static str>,
        ) -> Result<Transaction<'static, Self>, sqlx::Error>;

        /// Runs `statements` (no parameters) one after the other on `conn`.
        async fn run_all(
            conn: &mut Self::Connection,
            statements: &[String],
        ) -> Result<(), sqlx::Error>;

        /// In one transaction (begun with `begin`) holding the row (`lock`, one column of type
        /// `col`): compares the stored bytes' hash with `expected` and runs `write` if they
        /// match. Whether it wrote.
        #[allow(clippy::too_many_arguments)]
        async fn locked_write(
            pool: &Pool<Self>,
            begin: Option<&'static str>,
            lock: &str,
            lock_params: Vec<Param>,
            col: Col,
            expected: Version,
            write: &str,
            write_params: Vec<Param>,
        ) -> Result<bool, sqlx::Error>;
    }

    #[async_trait]
    impl<DB> Driver for DB
    where
        DB: sqlx::Database,
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
        for<'q> i64: Encode<'q, DB> + Type<DB>,
        for<'q> f64: Encode<'q, DB> + Type<DB>,
        for<'q> String: Encode<'q, DB> + Type<DB>,
        for<'q> Vec<u8>: Encode<'q, DB> + Type<DB>,
        usize: ColumnIndex<DB::Row>,
        for<'r> Option<i64>: Decode<'r, DB> + Type<DB>,
        for<'r> Option<String>: Decode<'r, DB> + Type<DB>,
        for<'r> Option<Vec<u8>>: Decode<'r, DB> + Type<DB>,
    {
        async fn execute(
            pool: &Pool<DB>,
            sql: &str,
            params: Vec<Param>,
        ) -> Result<DB::QueryResult, sqlx::Error> {
            bind(sqlx::query(sql), params).execute(pool).await
        }

        async fn fetch(
            pool: &Pool<DB>,
            sql: &str,
            params: Vec<Param>,
            cols: &[Col],
        ) -> Result<Option<Vec<Value>>, sqlx::Error> {
            let row = bind(sqlx::query(sql), params).fetch_optional(pool).await?;
            row.map(|row| read(&row, cols)).transpose()
        }

        async fn fetch_all(
            pool: &Pool<DB>,
            sql: &str,
            params: Vec<Param>,
            cols: &[Col],
        ) -> Result<Vec<Vec<Value>>, sqlx::Error> {
            let rows = bind(sqlx::query(sql), params).fetch_all(pool).await?;
            rows.iter().map(|row| read(row, cols)).collect()
        }

        async fn begin(
            pool: &Pool<DB>,
            begin: Option<&'static str>,
        ) -> Result<Transaction<'static, DB>, sqlx::Error> {
            match begin {
                Some(statement) => pool.begin_with(statement).await,
                None => pool.begin().await,
            }
        }

        async fn run_all(
            conn: &mut DB::Connection,
            statements: &[String],
        ) -> Result<(), sqlx::Error> {
            for statement in statements {
                sqlx::query(statement).execute(&mut *conn).await?;
            }
            Ok(())
        }

        async fn locked_write(
            pool: &Pool<DB>,
            begin: Option<&'static str>,
            lock: &str,
            lock_params: Vec<Param>,
            col: Col,
            expected: Version,
            write: &str,
            write_params: Vec<Param>,
        ) -> Result<bool, sqlx::Error> {
            let mut tx = Self::begin(pool, begin).await?;
            let row = bind(sqlx::query(lock), lock_params)
                .fetch_optional(&mut *tx)
                .await?;
            let stored = row.map(|row| read(&row, &[col])).transpose()?;
            let stored = stored
                .and_then(|v| v.into_iter().next())
                .and_then(Value::into_bytes);
            if stored.map(|d| content_version(&d)) != Some(expected) {
                tx.rollback().await?;
                return Ok(false);
            }
            bind(sqlx::query(write), write_params)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        }
    }

    /// What a SQL dialect does that the others do not: connecting, quoting the table,
    /// migrating, telling a timeout, beginning a conditional write, reporting a statement.
    #[async_trait]
    pub trait DialectOps: Sized + Clone + Send + Sync + fmt::Debug + 'static {
        /// The sqlx database.
        type Db: Driver;
        /// Which statements this dialect takes.
        const KIND: Kind;
        /// The URL schemes it opens.
        const SCHEMES: &'static [&'static str];
        /// How the transaction of a conditional write begins, if not with the database's own
        /// `BEGIN`.
        const BEGIN_WRITE: Option<&'static str> = None;

        /// Connects a pool as `settings` say.
        async fn connect(
            settings: &super::super::Settings,
            common: &Common,
            table: &Table,
        ) -> Result<(Pool<Self::Db>, Self), Error>;

        /// The quoted table name statements use.
        fn qualify(&self, table: &str) -> String;

        /// Runs `statements` (idempotent `CREATE`s) under the dialect's migration lock.
        async fn migrate(
            &self,
            pool: &Pool<Self::Db>,
            table: &str,
            statements: &[String],
        ) -> Result<(), sqlx::Error>;

        /// Whether `e` is a lock wait or statement time limit.
        fn is_timeout(e: &sqlx::Error) -> bool;

        /// What sqlx says an executed statement did.
        fn done(result: <Self::Db as sqlx::Database>::QueryResult) -> Done;
    }
}

/// A SQL dialect [`SqlStore`] speaks: [`Postgres`](super::Postgres),
/// [`MySql`](super::MySql) or [`Sqlite`](super::Sqlite). Sealed.
pub trait Dialect: sealed::DialectOps {}

impl<D: sealed::DialectOps> Dialect for D {}

/// Sessions in a SQL table, through a sqlx pool: one store generic over the
/// [dialect](Dialect), keeping the table layout of its profile ([the module](super) describes
/// each) with that profile's [record codec](crate::codec).
///
/// [`PostgresStore`](super::PostgresStore), [`MySqlStore`](super::MySqlStore) and
/// [`SqliteStore`](super::SqliteStore) name it on each database.
///
/// It keeps an [index of sessions by user](crate::store::UserIndex) in a table of its own
/// beside the session table (`<table>_users`, one row per user and session; one upsert per
/// save of a session with a user, pruned by [`clear_expired`](SessionStore::clear_expired)):
/// [the module](super#the-index-of-sessions-by-user) describes its columns, costs and limits,
/// and the DDL to create it where the store does not migrate.
pub struct SqlStore<D: Dialect> {
    pub(super) pool: sqlx::Pool<D::Db>,
    pub(super) common: Common,
    pub(super) codec: SharedCodec,
    pub(super) layout: &'static Table,
    pub(super) sql: Statements,
    /// The index of sessions by user, in a table of its own.
    users: SqlUserIndex<D>,
    dialect: D,
}

// By hand: a derive would ask for `D::Db: Clone`, which sqlx's database types are not.
impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            common: self.common.clone(),
            codec: self.codec.clone(),
            layout: self.layout,
            sql: self.sql.clone(),
            users: self.users.clone(),
            dialect: self.dialect.clone(),
        }
    }
}

impl<D: Dialect> fmt::Debug for SqlStore<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &self.dialect)
            .field("profile", &self.codec.profile())
            .field("table", &self.sql.table)
            .field("timeout", &self.common.timeout)
            .field("key_prefix", &self.common.key_prefix)
            .finish_non_exhaustive()
    }
}

impl<D: Dialect> SqlStore<D> {
    /// A builder for a store at `url`, to set the table, profile, clock, timeout…
    pub fn builder(url: &str) -> Result<SqlStoreBuilder<Self>, Error> {
        SqlStoreBuilder::parse(url, D::SCHEMES, D::KIND == Kind::Postgres)
    }

    /// Connects with the defaults (and the URL's parameters), creating the table if missing.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::builder(url)?.build().await
    }

    /// The pool, for anything tessera does not do.
    pub fn pool(&self) -> &sqlx::Pool<D::Db> {
        &self.pool
    }

    /// The quoted (PostgreSQL: schema-qualified) table name.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// Creates the profile's table and its indexes if missing, exactly as its owner does
    /// (tessera, SQLAlchemy, Django's migration; on PostgreSQL also the schema), and tessera's
    /// index table beside it (`<table>_users`), turning the store's
    /// [user index](SessionStore::user_index) on. Idempotent;
    /// app servers starting together serialise on the database's lock (a transaction-scoped
    /// advisory lock on PostgreSQL, `GET_LOCK` on MySQL, `BEGIN IMMEDIATE` on SQLite).
    pub async fn migrate(&self) -> Result<(), Error> {
        let statements: Vec<String> = self
            .sql
            .migrations
            .iter()
            .chain(&self.users.sql.migrations)
            .cloned()
            .collect();
        self.common
            .bounded(
                "migrate",
                D::is_timeout,
                self.dialect
                    .migrate(&self.pool, &self.sql.table, &statements),
            )
            .await?;
        self.users.mark_present();
        Ok(())
    }

    /// [`clear_expired`](SessionStore::clear_expired), reporting the running total of deleted
    /// rows after each batch (for a progress display).
    ///
    /// Each batch is one statement deleting at most
    /// [`clear_batch`](SqlStoreBuilder::clear_batch) rows, so no lock is held for long; each
    /// is bounded by the store's timeout, the whole run is not.
    pub async fn clear_expired_with_progress(
        &self,
        progress: impl FnMut(u64),
    ) -> Result<u64, Error> {
        let removed = self
            .common
            .clear_in_batches(
                |now, batch| async move {
                    let params = vec![self.at(now), Param::Int(batch)];
                    Ok(self
                        .execute("clear_expired", &self.sql.clear_batch, params)
                        .await?
                        .rows)
                },
                progress,
            )
            .await?;
        if self.users.is_present() {
            self.users.clear().await?;
        }
        Ok(removed)
    }

    /// `at` as the deadline column takes it.
    fn at(&self, at: OffsetDateTime) -> Param {
        Param::deadline(D::KIND, self.layout, at)
    }

    fn now(&self) -> Param {
        self.at(self.common.clock.now())
    }

    /// The id column's value, if the layout takes `id` (Django's keys only).
    fn key(&self, id: &SessionId) -> Option<Param> {
        self.common.key_param(&self.codec, self.layout, id)
    }

    fn data_col(&self) -> Col {
        if self.layout.data_is_text {
            Col::Text
        } else {
            Col::Bytes
        }
    }

    /// The record's bytes, and them as the data column takes them.
    fn encode(&self, id: &SessionId, record: &Record) -> Result<(Vec<u8>, Param), Error> {
        let bytes = self
            .codec
            .encode(record)
            .map_err(|e| Error::unencodable(id, e))?;
        let param = if self.layout.data_is_text {
            Param::Text(String::from_utf8(bytes.clone()).map_err(|e| Error::corrupt(id, e))?)
        } else {
            Param::Bytes(bytes.clone())
        };
        Ok((bytes, param))
    }

    fn counted(&self) -> bool {
        self.codec.versioning() == Versioning::Counter && self.layout.version.is_some()
    }

    async fn execute(
        &self,
        op: &'static str,
        sql: &str,
        params: Vec<Param>,
    ) -> Result<Done, Error> {
        let result = D::Db::execute(&self.pool, sql, params);
        let result = self.common.bounded(op, D::is_timeout, result).await?;
        Ok(D::done(result))
    }

    async fn fetch(
        &self,
        op: &'static str,
        sql: &str,
        params: Vec<Param>,
        cols: &[Col],
    ) -> Result<Option<Vec<Value>>, Error> {
        self.common
            .bounded(
                op,
                D::is_timeout,
                D::Db::fetch(&self.pool, sql, params, cols),
            )
            .await
    }

    /// Creates the row unless a live one exists (an expired one is replaced).
    async fn insert(
        &self,
        id: &SessionId,
        key: Param,
        record: &Record,
        bytes: &[u8],
        data: Param,
    ) -> Result<Saved, Error> {
        let counted = self.counted();
        let written = |version: u64| {
            Saved::Written(if counted {
                Version::new(version)
            } else {
                content_version(bytes)
            })
        };
        let deadline = self.at(record.expires_at);
        if D::KIND != Kind::MySql {
            let cols: &[Col] = if counted { &[Col::Int] } else { &[] };
            let params = vec![key, data, deadline, self.now()];
            let row = self.fetch("save", &self.sql.insert, params, cols).await?;
            return match row {
                None => Ok(Saved::Conflict),
                Some(row) => {
                    let version = row.first().and_then(Value::int).unwrap_or(1);
                    Ok(written(
                        u64::try_from(version).map_err(|e| Error::corrupt(id, e))?,
                    ))
                }
            };
        }
        // MySQL has no upsert that leaves a live row alone: insert, and if the id is taken,
        // take its place only if that row has expired.
        let params = vec![key.clone(), data.clone(), deadline.clone()];
        match self.execute("save", &self.sql.insert, params).await {
            Ok(_) => Ok(written(Version::FIRST.get())),
            Err(e) if is_duplicate(&e) => {
                let params = vec![data, deadline, key, self.now()];
                let done = self
                    .execute("save", &self.sql.replace_expired, params)
                    .await?;
                Ok(if done.rows == 1 {
                    written(done.last_id)
                } else {
                    Saved::Conflict
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Checks the table Django's migrations own exists, saying how to make it if not.
    async fn probe(&self, url: &str) -> Result<(), Error> {
        match self.fetch("open", &self.sql.probe, vec![], &[]).await {
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
}

/// Whether a failed insert hit the primary key (or unique) constraint.
fn is_duplicate(e: &Error) -> bool {
    match e {
        Error::Unavailable { source, .. } => source
            .downcast_ref::<sqlx::Error>()
            .and_then(sqlx::Error::as_database_error)
            .is_some_and(sqlx::error::DatabaseError::is_unique_violation),
        _ => false,
    }
}

impl<D: Dialect> SqlStoreBuilder<SqlStore<D>> {
    /// Connects, and runs [`SqlStore::migrate`] unless told not to (with the `django`
    /// profile, only if told to: Django's migrations own its table, which is then checked).
    pub async fn build(self) -> Result<SqlStore<D>, Error> {
        let s = self.settings;
        let bad = |reason: String| Error::BadUrl {
            url: redact_url(&s.url),
            reason,
        };
        let Some(layout) = Table::for_profile(s.profile) else {
            return Err(bad(format!(
                "this SQL store does not keep the {} profile's table",
                s.profile
            )));
        };
        let codec = codec::for_profile(s.profile, s.policy, s.keys.as_ref(), s.clock.clone())
            .map_err(|e| bad(e.to_string()))?;
        let common = Common::new(&s, layout)?;
        let (pool, dialect) = D::connect(&s, &common, layout).await?;
        let table = dialect.qualify(common.table.as_str());
        let sql = Statements::new(D::KIND, layout, &table, common.table.as_str());
        // At most 48 + 6 characters: within MySQL's 64 and PostgreSQL's 63, as is its index's
        // name (`…_until_at`, 63).
        let index_table = format!("{}{}", common.table.as_str(), sql_user_index::SUFFIX);
        let users = SqlUserIndex::new(
            pool.clone(),
            common.clone(),
            codec.clone(),
            layout,
            IndexStatements::new(
                D::KIND,
                layout,
                &dialect.qualify(&index_table),
                &index_table,
            ),
        );
        let store = SqlStore {
            pool,
            common,
            codec,
            layout,
            sql,
            users,
            dialect,
        };
        let migrate = s.migrate.unwrap_or(!layout.foreign);
        if migrate {
            store.migrate().await?;
        }
        if layout.foreign {
            store.probe(&s.given_url).await?;
        }
        if !migrate {
            store.users.probe().await?;
        }
        Ok(store)
    }
}

#[async_trait]
impl<D: Dialect> SessionStore for SqlStore<D> {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        let Some(key) = self.key(id) else {
            return Ok(None);
        };
        let counted = self.counted();
        let cols = [self.data_col(), Col::Int, Col::Int];
        let cols = if counted { &cols[..] } else { &cols[..2] };
        let row = self
            .fetch("load", &self.sql.load, vec![key, self.now()], cols)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut row = row.into_iter();
        let (data, deadline, version) = (row.next(), row.next(), row.next());
        let data = data
            .and_then(Value::into_bytes)
            .ok_or_else(|| Error::corrupt(id, "the row's data is NULL"))?;
        let deadline = deadline
            .and_then(|d| d.int())
            .and_then(|at| OffsetDateTime::from_unix_timestamp(at).ok())
            .ok_or_else(|| Error::corrupt(id, "the row's deadline is unreadable"))?;
        let record = self
            .codec
            .decode(&data, Some(deadline))
            .map_err(|e| Error::undecodable(id, e))?;
        let version = match version.and_then(|v| v.int()) {
            Some(v) => Version::new(u64::try_from(v).map_err(|e| Error::corrupt(id, e))?),
            None => content_version(&data),
        };
        Ok(Some(Loaded { record, version }))
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
        let expired = self.common.is_expired(record);
        let counted = self.counted();
        if let (Expected::Absent, true) = (expected, expired) {
            // Nothing to store; the precondition holds unless a live row exists.
            let live = self
                .fetch("save", &self.sql.live, vec![key, self.now()], &[])
                .await?;
            return Ok(match live {
                Some(_) => Saved::Conflict,
                None if counted => Saved::Written(Version::FIRST),
                None => Saved::Written(content_version(&self.encode(id, record)?.0)),
            });
        }
        let (bytes, data) = self.encode(id, record)?;
        let deadline = self.at(record.expires_at);
        match expected {
            Expected::Absent => self.insert(id, key, record, &bytes, data).await,
            Expected::Version(v) if counted => {
                let version = Param::Int(super::db_version(v));
                let done = if expired {
                    let params = vec![key, version, self.now()];
                    self.execute("save", &self.sql.delete_version, params)
                        .await?
                } else {
                    let params = vec![data, deadline, key, version, self.now()];
                    self.execute("save", &self.sql.update, params).await?
                };
                Ok(Common::written_if(done.rows, v))
            }
            Expected::Version(v) => {
                let (write, params) = if expired {
                    (&self.sql.delete, vec![key.clone()])
                } else {
                    (&self.sql.update, vec![data, deadline, key.clone()])
                };
                let wrote = self
                    .common
                    .bounded(
                        "save",
                        D::is_timeout,
                        D::Db::locked_write(
                            &self.pool,
                            D::BEGIN_WRITE,
                            &self.sql.lock,
                            vec![key, self.now()],
                            self.data_col(),
                            v,
                            write,
                            params,
                        ),
                    )
                    .await?;
                Ok(if wrote {
                    Saved::Written(content_version(&bytes))
                } else {
                    Saved::Conflict
                })
            }
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        if let Some(key) = self.key(id) {
            self.execute("delete", &self.sql.delete, vec![key]).await?;
        }
        Ok(())
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error> {
        let Some(key) = self.key(id) else {
            return Ok(false);
        };
        // sqlx connects to MySQL with CLIENT_FOUND_ROWS: rows matched, even if unchanged.
        let params = vec![self.at(expires_at), key, self.now()];
        let done = self.execute("touch", &self.sql.touch, params).await?;
        Ok(done.rows == 1)
    }

    async fn clear_expired(&self) -> Result<u64, Error> {
        self.clear_expired_with_progress(|_| {}).await
    }

    async fn clear_expired_in_batches(
        &self,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, Error> {
        self.clear_expired_with_progress(progress).await
    }

    fn list(&self) -> crate::store::Listing<'_> {
        super::listing::list(self)
    }

    fn profile(&self) -> Profile {
        self.codec.profile()
    }

    fn user_index(&self) -> Result<&dyn UserIndex, Error> {
        if self.users.is_present() {
            Ok(&self.users)
        } else {
            Err(user_index::unsupported(
                match D::KIND {
                    Kind::Postgres => "PostgreSQL",
                    Kind::MySql => "MySQL",
                    Kind::Sqlite => "SQLite",
                },
                "its index table is missing and the store was opened with migrate=false: create it (see SqlStore's docs) and reopen, or run migrate",
            ))
        }
    }
}
