//! [`PostgresStore`]: sessions in a PostgreSQL table (feature `postgres`).

use std::fmt;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::flask_session::{Dialect, FlaskStatements};
use super::{lock_key, scrub, Common, Ident, SqlStoreBuilder};
use crate::store::{redact_url, Error};

/// Sessions in a PostgreSQL table, through a sqlx pool.
///
/// URL: `postgres://user:password@host:port/database?table=…&schema=…&migrate=false`
/// (`postgresql://` too; other parameters such as `sslmode` go to sqlx). The schema, how writes
/// stay conditional and how expiry is judged are described in [the module](super).
///
/// Every connection runs with `statement_timeout` and `lock_timeout` set to the store's
/// timeout, acquiring a connection is bounded by it, and every call is wrapped in it too.
///
/// ```no_run
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::sql::PostgresStore;
///
/// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/app").await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    common: Common,
    schema: Option<Ident>,
    sql: Statements,
    flask: FlaskStatements,
    lock: i64,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.sql.table)
            .field("timeout", &self.common.timeout)
            .field("key_prefix", &self.common.key_prefix)
            .finish_non_exhaustive()
    }
}

/// The statements, written once per store with the validated, quoted table name.
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
    fn new(schema: Option<&Ident>, table: &Ident) -> Self {
        let t = match schema {
            Some(schema) => format!("\"{}\".\"{}\"", schema.as_str(), table.as_str()),
            None => format!("\"{}\"", table.as_str()),
        };
        let index = format!("\"{}_expires_at\"", table.as_str());
        Self {
            migrations: vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     id TEXT PRIMARY KEY, \
                     data BYTEA NOT NULL, \
                     expires_at BIGINT NOT NULL, \
                     version BIGINT NOT NULL DEFAULT 1)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {index} ON {t} (expires_at)"),
            ],
            load: format!(
                "SELECT data, expires_at, version FROM {t} WHERE id = $1 AND expires_at > $2"
            ),
            live: format!("SELECT 1 FROM {t} WHERE id = $1 AND expires_at > $2"),
            // A live row blocks the insert (no row returned); an expired one is replaced, its
            // version counting on so a stale writer of the old session cannot match it.
            insert: format!(
                "INSERT INTO {t} AS s (id, data, expires_at, version) VALUES ($1, $2, $3, 1) \
                 ON CONFLICT (id) DO UPDATE \
                 SET data = EXCLUDED.data, expires_at = EXCLUDED.expires_at, version = s.version + 1 \
                 WHERE s.expires_at <= $4 \
                 RETURNING version"
            ),
            update: format!(
                "UPDATE {t} SET data = $1, expires_at = $2, version = version + 1 \
                 WHERE id = $3 AND version = $4 AND expires_at > $5"
            ),
            delete_version: format!(
                "DELETE FROM {t} WHERE id = $1 AND version = $2 AND expires_at > $3"
            ),
            delete: format!("DELETE FROM {t} WHERE id = $1"),
            touch: format!("UPDATE {t} SET expires_at = $1 WHERE id = $2 AND expires_at > $3"),
            // SKIP LOCKED leaves rows another transaction is writing; the outer condition is
            // checked again on a row touched meanwhile, so a revived session is never deleted.
            clear_batch: format!(
                "DELETE FROM {t} WHERE id IN \
                 (SELECT id FROM {t} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED) \
                 AND expires_at <= $1"
            ),
            table: t,
        }
    }
}

/// `statement_timeout` (57014) and `lock_timeout` (55P03) are timeouts, not outages.
fn is_timeout(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| code == "57014" || code == "55P03")
}

impl PostgresStore {
    /// A builder for a store at `url`, to set the table, schema, clock, timeout…
    pub fn builder(url: &str) -> Result<SqlStoreBuilder<Self>, Error> {
        SqlStoreBuilder::parse(url, &["postgres", "postgresql"], true)
    }

    /// Connects with the defaults (and the URL's parameters), creating the table if missing.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::builder(url)?.build().await
    }

    /// The pool, for anything tessera does not do.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The quoted, schema-qualified table name.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// Starts a transaction (row locks are taken by the statements in it).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// Creates the table and its expiry index if missing (with the `flask-session` profile,
    /// Flask-Session's table as SQLAlchemy creates it) (and the schema, if one is set and
    /// missing). Idempotent; app servers starting together serialise on a transaction-scoped
    /// advisory lock named after the table, so none sees a half-made schema.
    pub async fn migrate(&self) -> Result<(), Error> {
        self.common
            .bounded("migrate", is_timeout, async {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(self.lock)
                    .execute(&mut *tx)
                    .await?;
                if let Some(schema) = &self.schema {
                    // Checked first: CREATE SCHEMA IF NOT EXISTS needs a privilege even when
                    // the schema exists.
                    let exists: bool = sqlx::query_scalar(
                        "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                    )
                    .bind(schema.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                    if !exists {
                        let create = format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", schema.as_str());
                        sqlx::query(&create).execute(&mut *tx).await?;
                    }
                }
                for statement in &self.sql.migrations {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
                tx.commit().await
            })
            .await
    }
}

impl SqlStoreBuilder<PostgresStore> {
    /// Keeps the table in `schema` (`?schema=`), created if missing; default: the first
    /// schema of the connection's search path.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.settings.schema = Some(schema.into());
        self
    }

    /// Connects, and runs [`PostgresStore::migrate`] unless told not to.
    pub async fn build(self) -> Result<PostgresStore, Error> {
        let s = self.settings;
        let common = Common::new(&s, true)?;
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
        let mut sql = Statements::new(schema.as_ref(), &common.table);
        let flask = FlaskStatements::new(Dialect::Postgres, &sql.table);
        if common.flask.is_some() {
            sql.migrations = vec![flask.create.clone()];
        }
        let lock = i64::from_be_bytes(lock_key(&sql.table));
        let store = PostgresStore {
            pool,
            common,
            schema,
            sql,
            flask,
            lock,
        };
        if s.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }
}

super::upserting_session_store!(PostgresStore, is_timeout);
super::flask_session::flask_session_methods!(PostgresStore, is_timeout);
