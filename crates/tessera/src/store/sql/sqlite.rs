//! [`Sqlite`]: the SQLite dialect (feature `sqlite`).

use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteQueryResult, SqliteSynchronous,
};

use super::store::sealed::{DialectOps, Driver};
use super::store::Done;
use super::table::{Kind, Table};
use super::{Common, Settings};
use crate::store::Error;

/// SQLite, for [`SqlStore`](super::SqlStore): `?1` placeholders, `ON CONFLICT` upserts,
/// `BEGIN IMMEDIATE` for a conditional write, deadlines as `INTEGER` or text.
#[derive(Debug, Clone)]
pub struct Sqlite {
    _private: (),
}

/// A random pause below `bound` (all of `bound` if the OS has no randomness to give).
fn jittered(bound: Duration) -> Duration {
    let mut random = [0u8; 4];
    match getrandom::fill(&mut random) {
        Ok(()) => bound.mul_f64(f64::from(u32::from_ne_bytes(random)) / f64::from(u32::MAX)),
        Err(_) => bound,
    }
}

// The sealed trait's items name crate-private types on purpose: nothing outside calls them.
#[allow(private_interfaces)]
#[async_trait]
impl DialectOps for Sqlite {
    type Db = sqlx::Sqlite;
    const KIND: Kind = Kind::Sqlite;
    const SCHEMES: &'static [&'static str] = &["sqlite"];
    /// `BEGIN IMMEDIATE` takes the database's write lock before the row is read.
    const BEGIN_WRITE: Option<&'static str> = Some("BEGIN IMMEDIATE");

    async fn connect(
        s: &Settings,
        common: &Common,
        table: &Table,
    ) -> Result<(SqlitePool, Self), Error> {
        let in_memory = s.url.contains(":memory:") || s.url.contains("mode=memory");
        let mut options = s
            .connect_options::<SqliteConnectOptions>(&s.url)?
            .busy_timeout(s.timeout);
        let mut pool = s.pool_options();
        if in_memory {
            // The database lives as long as one of its connections: keep one open for good.
            pool = pool
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        } else if table.foreign {
            // Another program's database (a Django project's): leave its journal mode alone.
            options = options.create_if_missing(true);
        } else {
            options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
        }
        // Switching a new file to WAL takes an exclusive lock that SQLite does not wait for
        // (`busy_timeout` does not apply), so app servers opening one fresh file together
        // get SQLITE_BUSY at once: retry with a growing, jittered pause, within the timeout.
        let pool = common
            .bounded("connect", Self::is_timeout, async {
                let mut bound = Duration::from_millis(2);
                loop {
                    match pool.clone().connect_with(options.clone()).await {
                        Err(e) if Self::is_timeout(&e) => {
                            tokio::time::sleep(jittered(bound)).await;
                            bound = (bound * 2).min(Duration::from_millis(100));
                        }
                        connected => return connected,
                    }
                }
            })
            .await?;
        Ok((pool, Self { _private: () }))
    }

    fn qualify(&self, table: &str) -> String {
        format!("\"{table}\"")
    }

    /// In a `BEGIN IMMEDIATE` transaction, which takes the database's write lock first, so
    /// processes opening one file together apply it one after the other.
    async fn migrate(
        &self,
        pool: &SqlitePool,
        _table: &str,
        statements: &[String],
    ) -> Result<(), sqlx::Error> {
        let mut tx = sqlx::Sqlite::begin(pool, Self::BEGIN_WRITE).await?;
        sqlx::Sqlite::run_all(&mut tx, statements).await?;
        tx.commit().await
    }

    /// SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes, after `busy_timeout`.
    fn is_timeout(e: &sqlx::Error) -> bool {
        e.as_database_error()
            .and_then(sqlx::error::DatabaseError::code)
            .and_then(|code| code.parse::<u32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6))
    }

    fn done(result: SqliteQueryResult) -> Done {
        Done::rows(result.rows_affected())
    }
}
