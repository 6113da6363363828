//! [`MySql`]: the MySQL and MariaDB dialect (feature `mysql`).

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::mysql::{
    MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlPool, MySqlPoolOptions,
};
use sqlx::Connection;

use super::store::{bind, read, sealed::Backend, Col, Done, Value};
use super::table::{Kind, Param, Table, MYSQL_ID_BYTES};
use super::{lock_key, scrub, Common, Settings};
use crate::id::MAX_ID_LEN;
use crate::record::Version;
use crate::store::url::redact_url;
use crate::store::{content_version, Error};

/// MySQL and MariaDB (InnoDB), for [`SqlStore`](super::SqlStore): `?` placeholders, an insert
/// that falls back to replacing an expired row, `SELECT … FOR UPDATE`, deadlines as `BIGINT`
/// or `DATETIME`. tessera's `id` column is `VARBINARY`, so ids compare byte for byte whatever
/// the server's default collation.
#[derive(Clone)]
pub struct MySql {
    /// For the migration's own connection.
    connect: MySqlConnectOptions,
    /// Seconds `GET_LOCK` waits.
    lock_wait: u64,
}

impl fmt::Debug for MySql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySql").finish_non_exhaustive()
    }
}

/// Lock waits (1205) and statement time limits (MariaDB 1969, MySQL 3024) are timeouts.
fn is_timeout(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.try_downcast_ref::<MySqlDatabaseError>())
        .is_some_and(|d| matches!(d.number(), 1205 | 1969 | 3024))
}

// The sealed trait's items name crate-private types on purpose: nothing outside calls them.
#[allow(private_interfaces)]
#[async_trait]
impl Backend for MySql {
    type Db = sqlx::MySql;
    const KIND: Kind = Kind::MySql;
    const SCHEMES: &'static [&'static str] = &["mysql", "mariadb"];

    async fn connect(
        s: &Settings,
        common: &Common,
        table: &Table,
    ) -> Result<(MySqlPool, Self), Error> {
        if table.version.is_some() && common.key_prefix.len() + MAX_ID_LEN > MYSQL_ID_BYTES {
            return Err(Error::BadUrl {
                url: redact_url(&s.url),
                reason: format!(
                    "the key prefix is {} bytes; the id column holds at most {} bytes of prefix",
                    common.key_prefix.len(),
                    MYSQL_ID_BYTES - MAX_ID_LEN
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
        Ok((pool, Self { connect, lock_wait }))
    }

    fn qualify(&self, table: &str) -> String {
        format!("`{table}`")
    }

    /// Under `GET_LOCK` over a connection of its own, which the server releases even if this
    /// process dies half-way.
    async fn migrate(
        &self,
        _pool: &MySqlPool,
        table: &str,
        statements: &[String],
    ) -> Result<(), sqlx::Error> {
        let lock = format!(
            "tessera_migrate_{}",
            lock_key(table)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let mut conn = MySqlConnection::connect_with(&self.connect).await?;
        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
            .bind(&lock)
            .bind(self.lock_wait)
            .fetch_one(&mut conn)
            .await?;
        if got != Some(1) {
            // GET_LOCK waited its time out: report it as the timeout it is.
            return Err(sqlx::Error::PoolTimedOut);
        }
        for statement in statements {
            sqlx::query(statement).execute(&mut conn).await?;
        }
        sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&lock)
            .execute(&mut conn)
            .await?;
        conn.close().await
    }

    fn is_timeout(e: &sqlx::Error) -> bool {
        is_timeout(e)
    }

    async fn execute(pool: &MySqlPool, sql: &str, params: Vec<Param>) -> Result<Done, sqlx::Error> {
        let done = bind(sqlx::query(sql), params).execute(pool).await?;
        Ok(Done {
            rows: done.rows_affected(),
            last_id: done.last_insert_id(),
        })
    }

    async fn fetch(
        pool: &MySqlPool,
        sql: &str,
        params: Vec<Param>,
        cols: &[Col],
    ) -> Result<Option<Vec<Value>>, sqlx::Error> {
        let row = bind(sqlx::query(sql), params).fetch_optional(pool).await?;
        row.map(|row| read(&row, cols)).transpose()
    }

    async fn locked_write(
        pool: &MySqlPool,
        lock: &str,
        lock_params: Vec<Param>,
        col: Col,
        expected: Version,
        write: &str,
        write_params: Vec<Param>,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = pool.begin().await?;
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
