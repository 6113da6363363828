//! [`SqliteStore`]: sessions in an SQLite database file (feature `sqlite`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::flask_session::{Dialect, FlaskStatements};
use super::{scrub, Common, SqlStoreBuilder};
use crate::store::{redact_url, Error};

/// Sessions in an SQLite database (bundled SQLite, through a sqlx pool): sessions that survive
/// a restart with no server to run, for one machine.
///
/// URLs: `sqlite://sessions.db` (relative to the working directory), `sqlite:///var/lib/app/sessions.db`
/// (absolute), `sqlite::memory:` (this process only); with `?table=…&migrate=false`, other
/// parameters (`mode`, …) go to sqlx. The file is created if missing. The schema, how writes
/// stay conditional and how expiry is judged are described in [the module](super).
///
/// Files use write-ahead logging, so readers never wait for the writer; writers wait for each
/// other up to the store's timeout (`busy_timeout`), and every call is bounded by it too.
/// Several processes may share one file on a local disk.
///
/// ```no_run
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::sql::SqliteStore;
///
/// let store = SqliteStore::connect("sqlite://tessera-sessions.db").await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    common: Common,
    sql: Statements,
    flask: FlaskStatements,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("table", &self.sql.table)
            .field("timeout", &self.common.timeout)
            .field("key_prefix", &self.common.key_prefix)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
struct Statements {
    table: String,
    migrations: Vec<String>,
    load: String,
    live: String,
    insert: String,
    update: String,
    delete_version: String,
    delete: String,
    touch: String,
    clear_batch: String,
}

impl Statements {
    fn new(table: &str) -> Self {
        let t = format!("\"{table}\"");
        Self {
            migrations: vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     id TEXT NOT NULL PRIMARY KEY, \
                     data BLOB NOT NULL, \
                     expires_at INTEGER NOT NULL, \
                     version INTEGER NOT NULL DEFAULT 1)"
                ),
                format!("CREATE INDEX IF NOT EXISTS \"{table}_expires_at\" ON {t} (expires_at)"),
            ],
            load: format!(
                "SELECT data, expires_at, version FROM {t} WHERE id = ?1 AND expires_at > ?2"
            ),
            live: format!("SELECT 1 FROM {t} WHERE id = ?1 AND expires_at > ?2"),
            // As on PostgreSQL: a live row blocks the insert, an expired one is replaced and
            // its version counts on.
            insert: format!(
                "INSERT INTO {t} (id, data, expires_at, version) VALUES (?1, ?2, ?3, 1) \
                 ON CONFLICT (id) DO UPDATE \
                 SET data = excluded.data, expires_at = excluded.expires_at, version = {t}.version + 1 \
                 WHERE {t}.expires_at <= ?4 \
                 RETURNING version"
            ),
            update: format!(
                "UPDATE {t} SET data = ?1, expires_at = ?2, version = version + 1 \
                 WHERE id = ?3 AND version = ?4 AND expires_at > ?5"
            ),
            delete_version: format!(
                "DELETE FROM {t} WHERE id = ?1 AND version = ?2 AND expires_at > ?3"
            ),
            delete: format!("DELETE FROM {t} WHERE id = ?1"),
            touch: format!("UPDATE {t} SET expires_at = ?1 WHERE id = ?2 AND expires_at > ?3"),
            // SQLite has no DELETE … LIMIT unless compiled in; a rowid subquery does the same.
            clear_batch: format!(
                "DELETE FROM {t} WHERE rowid IN \
                 (SELECT rowid FROM {t} WHERE expires_at <= ?1 LIMIT ?2)"
            ),
            table: t,
        }
    }
}

/// A random pause below `bound` (all of `bound` if the OS has no randomness to give).
fn jittered(bound: Duration) -> Duration {
    let mut random = [0u8; 4];
    match getrandom::fill(&mut random) {
        Ok(()) => bound.mul_f64(f64::from(u32::from_ne_bytes(random)) / f64::from(u32::MAX)),
        Err(_) => bound,
    }
}

/// SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes, after `busy_timeout`.
fn is_timeout(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|code| code.parse::<u32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

impl SqliteStore {
    /// A builder for a store at `url`, to set the table, clock, timeout…
    pub fn builder(url: &str) -> Result<SqlStoreBuilder<Self>, Error> {
        SqlStoreBuilder::parse(url, &["sqlite"], false)
    }

    /// Opens (creating the file and the table if missing) with the defaults.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::builder(url)?.build().await
    }

    /// The pool, for anything tessera does not do.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The quoted table name.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// Starts a transaction holding the database's write lock (`BEGIN IMMEDIATE`).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// Creates the table and its expiry index if missing (with the `flask-session` profile,
    /// Flask-Session's table as SQLAlchemy creates it). Idempotent; runs in a
    /// `BEGIN IMMEDIATE` transaction, which takes the database's write lock first, so
    /// processes opening one file together apply it one after the other.
    pub async fn migrate(&self) -> Result<(), Error> {
        self.common
            .bounded("migrate", is_timeout, async {
                let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                for statement in &self.sql.migrations {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
                tx.commit().await
            })
            .await
    }
}

impl SqlStoreBuilder<SqliteStore> {
    /// Leaves the file's journal mode as it is instead of switching it to write-ahead logging
    /// (for a database another program owns, such as a Django project's).
    pub(crate) fn keep_journal_mode(mut self) -> Self {
        self.settings.wal = false;
        self
    }

    /// Opens the database, and runs [`SqliteStore::migrate`] unless told not to.
    pub async fn build(self) -> Result<SqliteStore, Error> {
        let s = self.settings;
        let common = Common::new(&s, true)?;
        let in_memory = s.url.contains(":memory:") || s.url.contains("mode=memory");
        let mut options = SqliteConnectOptions::from_str(&s.url)
            .map_err(|e| Error::BadUrl {
                url: redact_url(&s.url),
                reason: scrub(e.to_string(), &s.url),
            })?
            .busy_timeout(s.timeout);
        let mut pool = SqlitePoolOptions::new()
            .max_connections(s.max_connections)
            .acquire_timeout(s.timeout);
        if in_memory {
            // The database lives as long as one of its connections: keep one open for good.
            pool = pool
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        } else if s.wal {
            options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
        } else {
            options = options.create_if_missing(true);
        }
        // Switching a new file to WAL takes an exclusive lock that SQLite does not wait for
        // (`busy_timeout` does not apply), so app servers opening one fresh file together
        // get SQLITE_BUSY at once: retry with a growing, jittered pause, within the timeout.
        let pool = common
            .bounded("connect", is_timeout, async {
                let mut bound = Duration::from_millis(2);
                loop {
                    match pool.clone().connect_with(options.clone()).await {
                        Err(e) if is_timeout(&e) => {
                            tokio::time::sleep(jittered(bound)).await;
                            bound = (bound * 2).min(Duration::from_millis(100));
                        }
                        connected => return connected,
                    }
                }
            })
            .await?;
        let mut sql = Statements::new(common.table.as_str());
        let flask = FlaskStatements::new(Dialect::Sqlite, &sql.table);
        if common.flask.is_some() {
            sql.migrations = vec![flask.create.clone()];
        }
        let store = SqliteStore {
            pool,
            common,
            sql,
            flask,
        };
        if s.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }
}

super::upserting_session_store!(SqliteStore, is_timeout);
super::flask_session::flask_session_methods!(SqliteStore, is_timeout);
