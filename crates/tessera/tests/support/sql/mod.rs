//! What the SQL stores' test files share, generic over the dialect: stores on fresh tables,
//! their conformance harnesses, and the cases only SQL stores have.

mod cases;

#[allow(unused_imports)]
pub use cases::*;

use std::future::Future;
use std::sync::Arc;

use tessera::clock::ManualClock;
use tessera::conformance::{server_or_skip, Harness, StoreUrl};
use tessera::store::sql::{Dialect, SqlStore};
use tessera::store::{Error, SessionStore};
use tessera::{ExpiryPolicy, Profile, SessionId};
use time::{Duration, OffsetDateTime};

use super::{unique_name, Teardown};

/// What a test's SQL store allows for connecting and for each statement, instead of the 3 s
/// default: a fresh SQLite file's first connection syncs it to disk, and on a loaded CI
/// machine that has taken longer than 3 s (two harnesses timed out connecting, the suite
/// taking 24 s instead of 1 s). No test here is about the bound but those that set their own.
pub const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the tests write in each dialect's own SQL.
pub trait DialectSql: Dialect {
    /// `name`, quoted as an identifier.
    fn quote(name: &str) -> String;
    /// A literal of `bytes`, for a binary column.
    fn blob(bytes: &[u8]) -> String {
        format!("X'{}'", hex(bytes))
    }
    /// A literal of a naive timestamp (`YYYY-MM-DD HH:MM:SS.ffffff`), for a timestamp column.
    fn timestamp(naive: &str) -> String {
        format!("'{naive}'")
    }
    /// What makes an insert into Flask-Session's table replace the row of its `session_id`.
    const UPSERT_FLASK_SESSION: &'static str =
        "ON CONFLICT (session_id) DO UPDATE SET data = excluded.data, expiry = excluded.expiry";
    /// Runs `statement`, which takes no parameters.
    fn run_sql(
        pool: &sqlx::Pool<Self::Db>,
        statement: &str,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// `column`, read as text (MySQL reports a binary collation's text as bytes).
    fn as_text(column: &str) -> String {
        column.to_owned()
    }
    /// The first column, as text, of every row `statement` (no parameters) returns.
    fn texts(
        pool: &sqlx::Pool<Self::Db>,
        statement: &str,
    ) -> impl Future<Output = Result<Vec<String>, sqlx::Error>> + Send;
    /// Begins a transaction and runs `statement` in it.
    fn in_transaction(
        pool: &sqlx::Pool<Self::Db>,
        statement: &str,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>>;
}

/// The statements of every dialect's [`DialectSql`] (which cannot assume, for any dialect,
/// that its connections run statements).
macro_rules! statements {
    () => {
        fn run_sql(
            pool: &sqlx::Pool<Self::Db>,
            statement: &str,
        ) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
            run(pool, statement)
        }
        fn texts(
            pool: &sqlx::Pool<Self::Db>,
            statement: &str,
        ) -> impl Future<Output = Result<Vec<String>, sqlx::Error>> + Send {
            texts(pool, statement)
        }
        fn in_transaction(
            pool: &sqlx::Pool<Self::Db>,
            statement: &str,
        ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> {
            begin_with(pool, statement)
        }
    };
}

/// [`DialectSql::run_sql`], for any database whose connections run statements.
async fn run<Db>(pool: &sqlx::Pool<Db>, statement: &str) -> Result<(), sqlx::Error>
where
    Db: sqlx::Database,
    for<'c> &'c mut Db::Connection: sqlx::Executor<'c, Database = Db>,
{
    sqlx::raw_sql(statement).execute(pool).await.map(|_| ())
}

/// [`DialectSql::texts`], likewise.
async fn texts<Db>(pool: &sqlx::Pool<Db>, statement: &str) -> Result<Vec<String>, sqlx::Error>
where
    Db: sqlx::Database,
    for<'c> &'c mut Db::Connection: sqlx::Executor<'c, Database = Db>,
    for<'q> <Db as sqlx::Database>::Arguments<'q>: sqlx::IntoArguments<'q, Db>,
    for<'r> String: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
    usize: sqlx::ColumnIndex<Db::Row>,
{
    let rows: Vec<(String,)> = sqlx::query_as(statement).fetch_all(pool).await?;
    Ok(rows.into_iter().map(|(text,)| text).collect())
}

/// [`DialectSql::in_transaction`], likewise.
async fn begin_with<Db>(
    pool: &sqlx::Pool<Db>,
    statement: &str,
) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error>
where
    Db: sqlx::Database,
    for<'c> &'c mut Db::Connection: sqlx::Executor<'c, Database = Db>,
{
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(statement).execute(&mut *tx).await?;
    Ok(tx)
}

/// `TESSERA_POSTGRES_URL`, or the loopback server's `test` database.
#[cfg(feature = "postgres")]
pub fn postgres_url() -> String {
    std::env::var("TESSERA_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `TESSERA_MYSQL_URL`, or the loopback server's `test` database.
#[cfg(feature = "mysql")]
pub fn mysql_url() -> String {
    std::env::var("TESSERA_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

#[cfg(feature = "postgres")]
impl DialectSql for tessera::store::sql::Postgres {
    fn quote(name: &str) -> String {
        format!("\"{name}\"")
    }
    fn blob(bytes: &[u8]) -> String {
        format!("'\\x{}'::bytea", hex(bytes))
    }
    fn timestamp(naive: &str) -> String {
        format!("CAST('{naive}' AS TIMESTAMP)")
    }
    statements!();
}

#[cfg(feature = "mysql")]
impl DialectSql for tessera::store::sql::MySql {
    fn quote(name: &str) -> String {
        format!("`{name}`")
    }
    const UPSERT_FLASK_SESSION: &'static str =
        "ON DUPLICATE KEY UPDATE data = VALUES(data), expiry = VALUES(expiry)";
    fn as_text(column: &str) -> String {
        format!("CAST({column} AS CHAR)")
    }
    statements!();
}

#[cfg(feature = "sqlite")]
impl DialectSql for tessera::store::sql::Sqlite {
    fn quote(name: &str) -> String {
        format!("\"{name}\"")
    }
    statements!();
}

/// A store on `table` at `url` keeping `profile`'s records, its table made if missing, judging
/// expiry by `clock`.
pub async fn open<D: Dialect>(
    url: &str,
    table: &str,
    profile: Profile,
    clock: &ManualClock,
) -> Result<SqlStore<D>, Error> {
    SqlStore::<D>::builder(url)?
        .table(table)
        .profile(profile, ExpiryPolicy::default())
        .clock(Arc::new(clock.clone()))
        .timeout(TEST_TIMEOUT)
        .build()
        .await
}

/// Drops `table` at `url`, and the store's index table beside it, when the returned guard
/// goes.
pub fn drop_table<D: DialectSql>(url: &str, table: &str) -> Teardown {
    let url = url.to_owned();
    let statements = [table.to_owned(), index_table(table)]
        .map(|t| format!("DROP TABLE IF EXISTS {}", D::quote(&t)));
    Teardown::new(move || async move {
        if let Ok(pool) = sqlx::Pool::<D::Db>::connect(&url).await {
            for statement in &statements {
                let _ = D::run_sql(&pool, statement).await;
            }
        }
    })
}

/// The name of the index table a store on `table` keeps beside it.
pub fn index_table(table: &str) -> String {
    format!("{table}{}", tessera::store::sql::user_index::SUFFIX)
}

/// A store keeping `profile`'s records on a fresh table, for a dialect's own tests; the table
/// is dropped afterwards.
pub struct Fixture<D: Dialect> {
    pub store: SqlStore<D>,
    pub table: String,
    pub clock: ManualClock,
    _cleanup: Teardown,
}

impl<D: DialectSql> Fixture<D> {
    /// On `table` at `url` (`what` names the server in the skip message).
    pub async fn new(what: &str, url: &str, table: &str, profile: Profile) -> Option<Self> {
        let clock = ManualClock::starting_now();
        let store = server_or_skip(
            &format!("{what} at {url}"),
            open::<D>(url, table, profile, &clock).await,
        )?;
        Some(Self {
            store,
            table: table.to_owned(),
            clock,
            _cleanup: drop_table::<D>(url, table),
        })
    }
}

/// The harness over a fresh table on the database server at `url` (`what` names it in the
/// skip message), keeping `profile`'s records: tessera's table or Flask-Session's.
pub async fn server_harness<D: DialectSql>(
    what: &str,
    url: String,
    profile: Profile,
) -> Option<Harness> {
    let clock = ManualClock::starting_now();
    let flask_session = profile == Profile::FlaskSession;
    let table = unique_name(if flask_session {
        "flask_sessions"
    } else {
        "tessera_t"
    });
    let store = server_or_skip(
        &format!("{what} at {url}"),
        open::<D>(&url, &table, profile, &clock).await,
    )?;
    let cleanup = drop_table::<D>(&url, &table);
    let peer = open::<D>(&url, &table, profile, &clock).await.unwrap();
    Some(if flask_session {
        flask_session_harness(store, peer, clock, cleanup)
    } else {
        let by_url = StoreUrl::new(format!("{url}?table={table}"))
            .shown_as(table)
            .refusing(format!("{url}?table=x;drop"));
        native_harness(store, peer, clock, by_url, cleanup)
    })
}

/// The harness over an SQL store and a second store on its table, judging expiry by `clock`,
/// with the store's migration.
pub fn harness<D: Dialect>(store: SqlStore<D>, peer: SqlStore<D>, clock: ManualClock) -> Harness {
    super::migrating_harness(store, peer, clock, |store: SqlStore<D>| async move {
        store.migrate().await
    })
}

/// [`harness`] over tessera's own table, opened by `url` too, planting undecodable rows; the
/// table lives as long as the harness, then `cleanup` runs.
pub fn native_harness<D: DialectSql>(
    store: SqlStore<D>,
    peer: SqlStore<D>,
    clock: ManualClock,
    url: StoreUrl,
    cleanup: Teardown,
) -> Harness {
    let (pool, table) = (store.pool().clone(), store.table().to_owned());
    let corrupt = move |id: SessionId| {
        let (pool, _cleanup) = (pool.clone(), cleanup.clone());
        let statement = corrupt_row::<D>(&table, &format!("session:{}", id.expose()));
        async move { D::run_sql(&pool, &statement).await.unwrap() }
    };
    harness(store, peer, clock)
        .with_url(url)
        .with_corrupter(corrupt)
}

/// The statement planting an undecodable row under `key` in tessera's table `table` (quoted),
/// live for a day.
pub fn corrupt_row<D: DialectSql>(table: &str, key: &str) -> String {
    let expires = (OffsetDateTime::now_utc() + Duration::days(1)).unix_timestamp();
    format!(
        "INSERT INTO {table} (id, data, expires_at, version) VALUES ('{key}', {}, {expires}, 1)",
        D::blob(b"\xffnot a record"),
    )
}

/// [`harness`] over Flask-Session's table, writing rows as Flask-Session does (the foreign
/// writer) and planting undecodable ones; the table lives as long as the harness, then
/// `cleanup` runs.
pub fn flask_session_harness<D: DialectSql>(
    store: SqlStore<D>,
    peer: SqlStore<D>,
    clock: ManualClock,
    cleanup: Teardown,
) -> Harness {
    let (pool, table) = (store.pool().clone(), Arc::<str>::from(store.table()));
    let write = move |id: SessionId, bytes: Vec<u8>, expiry: OffsetDateTime| {
        let statement = format!(
            "INSERT INTO {table} (session_id, data, expiry) VALUES ('session:{}', {}, {}) {}",
            id.expose(),
            D::blob(&bytes),
            D::timestamp(&python_expiry(expiry)),
            D::UPSERT_FLASK_SESSION,
        );
        let pool = pool.clone();
        async move { D::run_sql(&pool, &statement).await.unwrap() }
    };
    let plant = write.clone();
    harness(store, peer, clock)
        .with_foreign_writer(write)
        .with_corrupter(move |id| {
            let _table_lives = &cleanup;
            let expiry = OffsetDateTime::now_utc() + Duration::days(1);
            plant(id, b"\xc1 not msgpack".to_vec(), expiry)
        })
}

/// A harness over Django's `db` layout in `table` of the database at `db`, planting rows no
/// key signed that expire at `expire` (an SQL expression); the table lives as long as the
/// harness, then `cleanup` runs.
pub fn django_harness<D: DialectSql>(
    store: impl SessionStore,
    peer: impl SessionStore,
    clock: ManualClock,
    db: &str,
    table: &str,
    expire: &str,
    cleanup: Teardown,
) -> Harness {
    let pool = sqlx::Pool::<D::Db>::connect_lazy(db).unwrap();
    let (table, expire) = (D::quote(table), expire.to_owned());
    let corrupt = move |id: SessionId| {
        let (pool, _cleanup) = (pool.clone(), cleanup.clone());
        let statement = format!(
            "INSERT INTO {table} (session_key, session_data, expire_date) \
             VALUES ('{}', 'not:signed:by-this-key', {expire})",
            id.expose()
        );
        async move { D::run_sql(&pool, &statement).await.unwrap() }
    };
    Harness::new(Arc::new(store), Arc::new(peer))
        .with_clock(clock)
        .with_corrupter(corrupt)
}

/// The columns of `table` in the MySQL database at `url`, in order: name, type, whether it
/// takes NULL, and its key (`PRI`, `UNI`, `MUL` or empty).
#[cfg(feature = "mysql")]
pub async fn mysql_columns(url: &str, table: &str) -> Vec<[String; 4]> {
    let pool = sqlx::MySqlPool::connect(url).await.unwrap();
    let columns: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR), CAST(IS_NULLABLE AS CHAR), \
         CAST(COLUMN_KEY AS CHAR) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    )
    .bind(table)
    .fetch_all(&pool)
    .await
    .unwrap();
    columns
        .into_iter()
        .map(|(name, kind, null, key)| [name, kind, null, key])
        .collect()
}

/// A fresh SQLite database path in the temp directory, and a guard removing it (with its WAL
/// files) afterwards.
pub fn temp_sqlite(tag: &str) -> (std::path::PathBuf, Teardown) {
    let path = std::env::temp_dir().join(format!("{}.db", unique_name(tag)));
    let remove = path.clone();
    let cleanup = Teardown::new(move || async move {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = remove.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    });
    (path, cleanup)
}

/// `bytes` as hexadecimal digits, for a literal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `at` as Flask-Session writes its `expiry` column: naive UTC, to the microsecond.
pub fn python_expiry(at: OffsetDateTime) -> String {
    let seconds = tessera::interop::flask_session::naive_utc(at);
    format!(
        "{}.{:06}",
        seconds.trim_end_matches(".000000"),
        at.microsecond()
    )
}
