//! [`MySqlStore`]: sessions in a MySQL or MariaDB table (feature `mysql`).

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::mysql::{
    MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlPool, MySqlPoolOptions,
};
use sqlx::{Connection, Row};
use time::OffsetDateTime;

use super::{db_version, decode_row, lock_key, scrub, unix, Common, SqlStoreBuilder};
use crate::id::{SessionId, MAX_ID_LEN};
use crate::record::{Record, Version};
use crate::store::{redact_url, Error, Expected, Loaded, Saved, SessionStore};

/// The `id` column's width; key prefix + id must fit.
const ID_COLUMN_BYTES: usize = 255;

/// Sessions in a MySQL or MariaDB (InnoDB) table, through a sqlx pool.
///
/// URL: `mysql://user:password@host:port/database?table=…&migrate=false` (`mariadb://` too;
/// other parameters such as `ssl-mode` go to sqlx). The schema, how writes stay conditional
/// and how expiry is judged are described in [the module](super). The `id` column is
/// `VARBINARY`, so ids compare byte for byte whatever the server's default collation.
///
/// Every connection sets `innodb_lock_wait_timeout` and the statement time limit
/// (`max_statement_time` on MariaDB, `max_execution_time` on MySQL) from the store's timeout;
/// acquiring a connection is bounded by it, and every call is wrapped in it too.
///
/// ```no_run
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::sql::MySqlStore;
///
/// let store = MySqlStore::connect("mysql://root@127.0.0.1:3306/app?table=web_sessions").await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
    connect: MySqlConnectOptions,
    common: Common,
    sql: Statements,
    lock: String,
}

impl fmt::Debug for MySqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlStore")
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
    replace_expired: String,
    update: String,
    delete_version: String,
    delete: String,
    touch: String,
    clear_batch: String,
}

impl Statements {
    fn new(table: &str) -> Self {
        let t = format!("`{table}`");
        Self {
            migrations: vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
                 id VARBINARY({ID_COLUMN_BYTES}) NOT NULL PRIMARY KEY, \
                 data LONGBLOB NOT NULL, \
                 expires_at BIGINT NOT NULL, \
                 version BIGINT NOT NULL DEFAULT 1, \
                 KEY `{table}_expires_at` (expires_at)\
                 ) ENGINE=InnoDB"
            )],
            load: format!(
                "SELECT data, expires_at, version FROM {t} WHERE id = ? AND expires_at > ?"
            ),
            live: format!("SELECT 1 FROM {t} WHERE id = ? AND expires_at > ?"),
            insert: format!("INSERT INTO {t} (id, data, expires_at, version) VALUES (?, ?, ?, 1)"),
            // LAST_INSERT_ID(expr) hands the new version back in the OK packet, so the replace
            // and the read of its version are one atomic statement.
            replace_expired: format!(
                "UPDATE {t} SET data = ?, expires_at = ?, version = LAST_INSERT_ID(version + 1) \
                 WHERE id = ? AND expires_at <= ?"
            ),
            update: format!(
                "UPDATE {t} SET data = ?, expires_at = ?, version = version + 1 \
                 WHERE id = ? AND version = ? AND expires_at > ?"
            ),
            delete_version: format!(
                "DELETE FROM {t} WHERE id = ? AND version = ? AND expires_at > ?"
            ),
            delete: format!("DELETE FROM {t} WHERE id = ?"),
            touch: format!("UPDATE {t} SET expires_at = ? WHERE id = ? AND expires_at > ?"),
            clear_batch: format!("DELETE FROM {t} WHERE expires_at <= ? LIMIT ?"),
            table: t,
        }
    }
}

/// Lock waits (1205) and statement time limits (MariaDB 1969, MySQL 3024) are timeouts.
fn is_timeout(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.try_downcast_ref::<MySqlDatabaseError>())
        .is_some_and(|d| matches!(d.number(), 1205 | 1969 | 3024))
}

fn is_duplicate(e: &Error) -> bool {
    match e {
        Error::Unavailable { source, .. } => source
            .downcast_ref::<sqlx::Error>()
            .and_then(sqlx::Error::as_database_error)
            .is_some_and(|d| d.is_unique_violation()),
        _ => false,
    }
}

impl MySqlStore {
    /// A builder for a store at `url`, to set the table, clock, timeout…
    pub fn builder(url: &str) -> Result<SqlStoreBuilder<Self>, Error> {
        SqlStoreBuilder::parse(url, &["mysql", "mariadb"], false)
    }

    /// Connects with the defaults (and the URL's parameters), creating the table if missing.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::builder(url)?.build().await
    }

    /// The pool, for anything tessera does not do.
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The quoted table name.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// Creates the table and its expiry index if missing. Idempotent; app servers starting
    /// together serialise on `GET_LOCK` over a connection of its own, which the server releases
    /// even if this process dies half-way.
    pub async fn migrate(&self) -> Result<(), Error> {
        let wait = self.common.timeout.as_secs().max(1);
        self.common
            .bounded("migrate", is_timeout, async {
                let mut conn = MySqlConnection::connect_with(&self.connect).await?;
                let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
                    .bind(&self.lock)
                    .bind(wait)
                    .fetch_one(&mut conn)
                    .await?;
                if got != Some(1) {
                    // GET_LOCK waited its time out: report it as the timeout it is.
                    return Err(sqlx::Error::PoolTimedOut);
                }
                for statement in &self.sql.migrations {
                    sqlx::query(statement).execute(&mut conn).await?;
                }
                sqlx::query("SELECT RELEASE_LOCK(?)")
                    .bind(&self.lock)
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
            .await
    }

    /// [`clear_expired`](SessionStore::clear_expired), reporting the running total of deleted
    /// rows after each batch (for a progress display).
    ///
    /// Each batch is one `DELETE … LIMIT` of at most
    /// [`clear_batch`](SqlStoreBuilder::clear_batch) rows, so no lock is held for long; each
    /// is bounded by the store's timeout, the whole run is not.
    pub async fn clear_expired_with_progress(
        &self,
        progress: impl FnMut(u64),
    ) -> Result<u64, Error> {
        self.common
            .clear_in_batches(
                |now, batch| async move {
                    let done = self
                        .common
                        .bounded(
                            "clear_expired",
                            is_timeout,
                            sqlx::query(&self.sql.clear_batch)
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

    /// Replaces an expired row under `key`; `None` when the row is live (or gone).
    async fn replace_expired(
        &self,
        key: String,
        record: &Record,
        now: i64,
    ) -> Result<Option<Version>, Error> {
        let done = self
            .common
            .bounded(
                "save",
                is_timeout,
                sqlx::query(&self.sql.replace_expired)
                    .bind(record.encode())
                    .bind(unix(record.expires_at))
                    .bind(key)
                    .bind(now)
                    .execute(&self.pool),
            )
            .await?;
        Ok((done.rows_affected() == 1).then(|| Version::new(done.last_insert_id())))
    }
}

impl SqlStoreBuilder<MySqlStore> {
    /// Connects, and runs [`MySqlStore::migrate`] unless told not to.
    pub async fn build(self) -> Result<MySqlStore, Error> {
        let s = self.settings;
        let common = Common::new(&s, false)?;
        if common.key_prefix.len() + MAX_ID_LEN > ID_COLUMN_BYTES {
            return Err(Error::BadUrl {
                url: redact_url(&s.url),
                reason: format!(
                    "the key prefix is {} bytes; the id column holds at most {} bytes of prefix",
                    common.key_prefix.len(),
                    ID_COLUMN_BYTES - MAX_ID_LEN
                ),
            });
        }
        let url = match s.url.strip_prefix("mariadb:") {
            Some(rest) => format!("mysql:{rest}"),
            None => s.url.clone(),
        };
        let connect = MySqlConnectOptions::from_str(&url).map_err(|e| Error::BadUrl {
            url: redact_url(&s.url),
            reason: scrub(e.to_string(), &s.url),
        })?;
        let lock_wait = s.timeout.as_secs().max(1);
        let statement_secs = s.timeout.as_secs_f64();
        let statement_millis = s.timeout.as_millis();
        let pool = common
            .bounded(
                "connect",
                is_timeout,
                MySqlPoolOptions::new()
                    .max_connections(s.max_connections)
                    .acquire_timeout(s.timeout)
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            sqlx::query(&format!(
                                "SET SESSION innodb_lock_wait_timeout = {lock_wait}"
                            ))
                            .execute(&mut *conn)
                            .await?;
                            // MariaDB's limit covers every statement; MySQL's only SELECTs.
                            let mariadb = sqlx::query(&format!(
                                "SET SESSION max_statement_time = {statement_secs}"
                            ))
                            .execute(&mut *conn)
                            .await;
                            if mariadb.is_err() {
                                sqlx::query(&format!(
                                    "SET SESSION max_execution_time = {statement_millis}"
                                ))
                                .execute(&mut *conn)
                                .await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(connect.clone()),
            )
            .await?;
        let sql = Statements::new(common.table.as_str());
        let lock = format!(
            "tessera_migrate_{}",
            lock_key(&sql.table)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let store = MySqlStore {
            pool,
            connect,
            common,
            sql,
            lock,
        };
        if s.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }
}

#[async_trait]
impl SessionStore for MySqlStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        let row = self
            .common
            .bounded(
                "load",
                is_timeout,
                sqlx::query(&self.sql.load)
                    .bind(self.common.key(id))
                    .bind(self.common.now())
                    .fetch_optional(&self.pool),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let data: Vec<u8> = row.try_get(0).map_err(|e| Error::corrupt(id, e))?;
        let expires_at: i64 = row.try_get(1).map_err(|e| Error::corrupt(id, e))?;
        let version: i64 = row.try_get(2).map_err(|e| Error::corrupt(id, e))?;
        decode_row(id, &data, expires_at, version).map(Some)
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error> {
        let key = self.common.key(id);
        let now = self.common.now();
        let expired = self.common.is_expired(record);
        match expected {
            Expected::Absent if expired => {
                let live = self
                    .common
                    .bounded(
                        "save",
                        is_timeout,
                        sqlx::query(&self.sql.live)
                            .bind(key)
                            .bind(now)
                            .fetch_optional(&self.pool),
                    )
                    .await?;
                Ok(match live {
                    Some(_) => Saved::Conflict,
                    None => Saved::Written(Version::FIRST),
                })
            }
            Expected::Absent => {
                let inserted = self
                    .common
                    .bounded(
                        "save",
                        is_timeout,
                        sqlx::query(&self.sql.insert)
                            .bind(&key)
                            .bind(record.encode())
                            .bind(unix(record.expires_at))
                            .execute(&self.pool),
                    )
                    .await;
                match inserted {
                    Ok(_) => Ok(Saved::Written(Version::FIRST)),
                    // A row with this id exists: take its place only if it has expired.
                    Err(e) if is_duplicate(&e) => {
                        match self.replace_expired(key, record, now).await? {
                            Some(version) => Ok(Saved::Written(version)),
                            None => Ok(Saved::Conflict),
                        }
                    }
                    Err(e) => Err(e),
                }
            }
            Expected::Version(v) if expired => {
                let done = self
                    .common
                    .bounded(
                        "save",
                        is_timeout,
                        sqlx::query(&self.sql.delete_version)
                            .bind(key)
                            .bind(db_version(v))
                            .bind(now)
                            .execute(&self.pool),
                    )
                    .await?;
                Ok(self.common.written_if(done.rows_affected(), v))
            }
            Expected::Version(v) => {
                let done = self
                    .common
                    .bounded(
                        "save",
                        is_timeout,
                        sqlx::query(&self.sql.update)
                            .bind(record.encode())
                            .bind(unix(record.expires_at))
                            .bind(key)
                            .bind(db_version(v))
                            .bind(now)
                            .execute(&self.pool),
                    )
                    .await?;
                Ok(self.common.written_if(done.rows_affected(), v))
            }
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.common
            .bounded(
                "delete",
                is_timeout,
                sqlx::query(&self.sql.delete)
                    .bind(self.common.key(id))
                    .execute(&self.pool),
            )
            .await?;
        Ok(())
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error> {
        // sqlx connects with CLIENT_FOUND_ROWS: rows matched, even if the deadline is unchanged.
        let done = self
            .common
            .bounded(
                "touch",
                is_timeout,
                sqlx::query(&self.sql.touch)
                    .bind(unix(expires_at))
                    .bind(self.common.key(id))
                    .bind(self.common.now())
                    .execute(&self.pool),
            )
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn clear_expired(&self) -> Result<u64, Error> {
        self.clear_expired_with_progress(|_| {}).await
    }
}
