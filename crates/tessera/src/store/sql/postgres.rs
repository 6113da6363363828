//! [`Postgres`]: the PostgreSQL dialect (feature `postgres`).

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::store::{bind, read, sealed::Backend, Col, Done, Value};
use super::table::{Kind, Param, Table};
use super::{lock_key, scrub, Common, Ident, Settings, SqlStoreBuilder};
use crate::record::Version;
use crate::store::url::redact_url;
use crate::store::{content_version, Error};

/// PostgreSQL, for [`SqlStore`](super::SqlStore): `$1` placeholders, `ON CONFLICT` upserts,
/// `SELECT … FOR UPDATE`, deadlines as `BIGINT`, `timestamp` or `timestamptz`, tables in an
/// optional schema.
#[derive(Debug, Clone)]
pub struct Postgres {
    schema: Option<Ident>,
}

/// `statement_timeout` (57014) and `lock_timeout` (55P03) are timeouts, not outages.
fn is_timeout(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| code == "57014" || code == "55P03")
}

// The sealed trait's items name crate-private types on purpose: nothing outside calls them.
#[allow(private_interfaces)]
#[async_trait]
impl Backend for Postgres {
    type Db = sqlx::Postgres;
    const KIND: Kind = Kind::Postgres;
    const SCHEMES: &'static [&'static str] = &["postgres", "postgresql"];

    async fn connect(
        s: &Settings,
        common: &Common,
        _table: &Table,
    ) -> Result<(PgPool, Self), Error> {
        let schema = s
            .schema
            .as_deref()
            .map(|name| Ident::new("schema", name))
            .transpose()?;
        let millis = s.timeout.as_millis().to_string();
        let options = PgConnectOptions::from_str(&s.url)
            .map_err(|e| Error::BadUrl {
                url: redact_url(&s.url),
                reason: scrub(e.to_string(), &s.url),
            })?
            .options([("statement_timeout", &millis), ("lock_timeout", &millis)]);
        let pool = common
            .bounded(
                "connect",
                is_timeout,
                PgPoolOptions::new()
                    .max_connections(s.max_connections)
                    .acquire_timeout(s.timeout)
                    .connect_with(options),
            )
            .await?;
        Ok((pool, Self { schema }))
    }

    fn qualify(&self, table: &str) -> String {
        match &self.schema {
            Some(schema) => format!("\"{}\".\"{table}\"", schema.as_str()),
            None => format!("\"{table}\""),
        }
    }

    /// Under a transaction-scoped advisory lock named after the table, so none sees a
    /// half-made schema; the schema, if set and missing, is created first.
    async fn migrate(
        &self,
        pool: &PgPool,
        table: &str,
        statements: &[String],
    ) -> Result<(), sqlx::Error> {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(i64::from_be_bytes(lock_key(table)))
            .execute(&mut *tx)
            .await?;
        if let Some(schema) = &self.schema {
            // Checked first: CREATE SCHEMA IF NOT EXISTS needs a privilege even when the
            // schema exists.
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                    .bind(schema.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
            if !exists {
                let create = format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", schema.as_str());
                sqlx::query(&create).execute(&mut *tx).await?;
            }
        }
        for statement in statements {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    fn is_timeout(e: &sqlx::Error) -> bool {
        is_timeout(e)
    }

    async fn execute(pool: &PgPool, sql: &str, params: Vec<Param>) -> Result<Done, sqlx::Error> {
        let done = bind(sqlx::query(sql), params).execute(pool).await?;
        Ok(Done {
            rows: done.rows_affected(),
            last_id: 0,
        })
    }

    async fn fetch(
        pool: &PgPool,
        sql: &str,
        params: Vec<Param>,
        cols: &[Col],
    ) -> Result<Option<Vec<Value>>, sqlx::Error> {
        let row = bind(sqlx::query(sql), params).fetch_optional(pool).await?;
        row.map(|row| read(&row, cols)).transpose()
    }

    async fn locked_write(
        pool: &PgPool,
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

impl SqlStoreBuilder<super::PostgresStore> {
    /// Keeps the table in `schema` (`?schema=`), created if missing; default: the first
    /// schema of the connection's search path.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.settings.schema = Some(schema.into());
        self
    }
}
