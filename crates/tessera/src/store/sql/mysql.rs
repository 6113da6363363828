//! [`MySql`]: the MySQL and MariaDB dialect (feature `mysql`).

use std::fmt;

use async_trait::async_trait;
use sqlx::mysql::{
    MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlPool, MySqlQueryResult,
};
use sqlx::Connection;

use super::store::sealed::{DialectOps, Driver};
use super::store::Done;
use super::table::{Kind, Table, MYSQL_ID_BYTES};
use super::{lock_key, Common, Settings};
use crate::id::MAX_ID_LEN;
use crate::store::url::redact_url;
use crate::store::Error;

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

// The sealed trait's items name crate-private types on purpose: nothing outside calls them.
#[allow(private_interfaces)]
#[async_trait]
impl DialectOps for MySql {
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
        let connect = s.connect_options::<MySqlConnectOptions>(&url)?;
        let lock_wait = s.timeout.as_secs().max(1);
        let statement_secs = s.timeout.as_secs_f64();
        let statement_millis = s.timeout.as_millis();
        let pool = common
            .bounded(
                "connect",
                Self::is_timeout,
                s.pool_options()
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
        sqlx::MySql::run_all(&mut conn, statements).await?;
        sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&lock)
            .execute(&mut conn)
            .await?;
        conn.close().await
    }

    /// Lock waits (1205) and statement time limits (MariaDB 1969, MySQL 3024) are timeouts.
    fn is_timeout(e: &sqlx::Error) -> bool {
        e.as_database_error()
            .and_then(|d| d.try_downcast_ref::<MySqlDatabaseError>())
            .is_some_and(|d| matches!(d.number(), 1205 | 1969 | 3024))
    }

    fn done(result: MySqlQueryResult) -> Done {
        Done {
            last_id: result.last_insert_id(),
            ..Done::rows(result.rows_affected())
        }
    }
}
