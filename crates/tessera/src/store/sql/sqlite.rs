//! [`Sqlite`]: the SQLite dialect (feature `sqlite`).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::store::{bind, read, sealed::Backend, Col, Done, Value};
use super::table::{Kind, Param, Table};
use super::{scrub, Common, Settings};
use crate::record::Version;
use crate::store::url::redact_url;
use crate::store::{content_version, Error};

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

/// SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes, after `busy_timeout`.
fn is_timeout(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|code| code.parse::<u32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

// The sealed trait's items name crate-private types on purpose: nothing outside calls them.
#[allow(private_interfaces)]
#[async_trait]
impl Backend for Sqlite {
    type Db = sqlx::Sqlite;
    const KIND: Kind = Kind::Sqlite;
    const SCHEMES: &'static [&'static str] = &["sqlite"];

    async fn connect(
        s: &Settings,
        common: &Common,
        table: &Table,
    ) -> Result<(SqlitePool, Self), Error> {
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
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        for statement in statements {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    fn is_timeout(e: &sqlx::Error) -> bool {
        is_timeout(e)
    }

    async fn execute(
        pool: &SqlitePool,
        sql: &str,
        params: Vec<Param>,
    ) -> Result<Done, sqlx::Error> {
        let done = bind(sqlx::query(sql), params).execute(pool).await?;
        Ok(Done {
            rows: done.rows_affected(),
            last_id: 0,
        })
    }

    async fn fetch(
        pool: &SqlitePool,
        sql: &str,
        params: Vec<Param>,
        cols: &[Col],
    ) -> Result<Option<Vec<Value>>, sqlx::Error> {
        let row = bind(sqlx::query(sql), params).fetch_optional(pool).await?;
        row.map(|row| read(&row, cols)).transpose()
    }

    async fn locked_write(
        pool: &SqlitePool,
        lock: &str,
        lock_params: Vec<Param>,
        col: Col,
        expected: Version,
        write: &str,
        write_params: Vec<Param>,
    ) -> Result<bool, sqlx::Error> {
        // BEGIN IMMEDIATE takes the write lock before the read.
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
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
