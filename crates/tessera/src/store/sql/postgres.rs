//! [`Postgres`]: the PostgreSQL dialect (feature `postgres`).

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgQueryResult};

use super::store::sealed::{DialectOps, Driver};
use super::store::Done;
use super::table::{Kind, Table};
use super::{lock_key, Common, Ident, Settings, SqlStoreBuilder};
use crate::store::Error;

/// PostgreSQL, for [`SqlStore`](super::SqlStore): `$1` placeholders, `ON CONFLICT` upserts,
/// `SELECT … FOR UPDATE`, deadlines as `BIGINT`, `timestamp` or `timestamptz`, tables in an
/// optional schema.
#[derive(Debug, Clone)]
pub struct Postgres {
    schema: Option<Ident>,
}

// The sealed trait's items name crate-private types on purpose: nothing outside calls them.
#[allow(private_interfaces)]
#[async_trait]
impl DialectOps for Postgres {
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
        let options = s
            .connect_options::<PgConnectOptions>(&s.url)?
            .options([("statement_timeout", &millis), ("lock_timeout", &millis)]);
        let pool = common
            .bounded(
                "connect",
                Self::is_timeout,
                s.pool_options().connect_with(options),
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
        sqlx::Postgres::run_all(&mut tx, statements).await?;
        tx.commit().await
    }

    /// `statement_timeout` (57014) and `lock_timeout` (55P03) are timeouts, not outages.
    fn is_timeout(e: &sqlx::Error) -> bool {
        e.as_database_error()
            .and_then(sqlx::error::DatabaseError::code)
            .is_some_and(|code| code == "57014" || code == "55P03")
    }

    fn done(result: PgQueryResult) -> Done {
        Done::rows(result.rows_affected())
    }
}

impl SqlStoreBuilder<super::PostgresStore> {
    /// Keeps the table in `schema` (`?schema=`), created if missing; default: the first
    /// schema of the connection's search path.
    #[must_use]
    pub fn schema(self, schema: impl Into<String>) -> Self {
        self.set(|s| s.schema = Some(schema.into()))
    }
}
