//! [`SqlStore`](super::SqlStore)'s index of sessions by user ([`UserIndex`]): a table of
//! tessera's own beside the session table, named after it with [`SUFFIX`], never columns
//! added to a table another framework owns.
//!
//! [The SQL stores' docs](super#the-index-of-sessions-by-user) describe its columns, costs and
//! limits. Users are matched by a SHA-256 of their name: exact whatever the server's
//! collation, and of a fixed length whatever the name's.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::store::sealed::Driver;
use super::store::{Col, Dialect, Value};
use super::table::{deadline_placeholder, placeholder, DeadlineType, Kind, Param, Table};
use super::Common;
use crate::codec::SharedCodec;
use crate::id::SessionId;
use crate::interop::Profile;
use crate::store::{Error, UserIndex};

/// What the index table's name adds to the session table's: `tessera_sessions_users`.
pub const SUFFIX: &str = "_users";

/// Ids one `remove` statement names at most.
const REMOVE_CHUNK: usize = 100;

/// The index table's statements on one database, written with its validated, quoted name.
#[derive(Debug, Clone)]
pub(crate) struct IndexStatements {
    kind: Kind,
    /// `CREATE TABLE` / `CREATE INDEX`, idempotent.
    pub(crate) migrations: Vec<String>,
    /// Reads nothing; fails if the table is missing.
    probe: String,
    /// The upsert keeping the later deadline; binds user hash, user name, key, until.
    enter: String,
    /// The live entries' keys; binds user hash, now.
    entries: String,
    /// Deletes at most a batch of expired entries; binds now, batch size.
    clear_batch: String,
    /// The quoted table name.
    table: String,
}

impl IndexStatements {
    /// `t` is the quoted index table name, `bare` the unquoted one (for its index's name).
    pub(crate) fn new(kind: Kind, layout: &Table, t: &str, bare: &str) -> Self {
        let p = |n| placeholder(kind, n);
        let at = |n| deadline_placeholder(kind, layout, n);
        let enter = match kind {
            Kind::Postgres => format!(
                "INSERT INTO {t} AS x (user_hash, user_name, session_key, until_at) \
                 VALUES ($1, $2, $3, {}) ON CONFLICT (user_hash, session_key) \
                 DO UPDATE SET until_at = GREATEST(x.until_at, EXCLUDED.until_at)",
                at(4)
            ),
            Kind::Sqlite => format!(
                "INSERT INTO {t} (user_hash, user_name, session_key, until_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_hash, session_key) \
                 DO UPDATE SET until_at = MAX(until_at, excluded.until_at)"
            ),
            Kind::MySql => format!(
                "INSERT INTO {t} (user_hash, user_name, session_key, until_at) \
                 VALUES (?, ?, ?, {}) \
                 ON DUPLICATE KEY UPDATE until_at = GREATEST(until_at, VALUES(until_at))",
                at(4)
            ),
        };
        let clear_batch = match kind {
            // As the session table's: rows being entered are skipped, and the outer condition
            // is checked again on a row whose deadline an `enter` moved meanwhile.
            Kind::Postgres => format!(
                "DELETE FROM {t} WHERE (user_hash, session_key) IN (SELECT user_hash, session_key \
                 FROM {t} WHERE until_at <= {} LIMIT $2 FOR UPDATE SKIP LOCKED) AND until_at <= {}",
                at(1),
                at(1)
            ),
            Kind::Sqlite => format!(
                "DELETE FROM {t} WHERE rowid IN (SELECT rowid FROM {t} WHERE until_at <= ?1 LIMIT ?2)"
            ),
            Kind::MySql => format!("DELETE FROM {t} WHERE until_at <= {} LIMIT ?", at(1)),
        };
        Self {
            kind,
            migrations: migrations(kind, layout, t, bare),
            probe: format!("SELECT user_hash FROM {t} LIMIT 0"),
            enter,
            entries: format!(
                "SELECT session_key FROM {t} WHERE user_hash = {} AND until_at > {}",
                p(1),
                at(2)
            ),
            clear_batch,
            table: t.to_owned(),
        }
    }

    /// Deletes a user's entries under `n` keys; binds user hash, then the keys.
    fn remove(&self, n: usize) -> String {
        let keys: Vec<String> = (2..n + 2).map(|i| placeholder(self.kind, i)).collect();
        format!(
            "DELETE FROM {} WHERE user_hash = {} AND session_key IN ({})",
            self.table,
            placeholder(self.kind, 1),
            keys.join(", ")
        )
    }
}

/// The index table and its deadline index, each column in the session table's own types.
fn migrations(kind: Kind, layout: &Table, t: &str, bare: &str) -> Vec<String> {
    let key = match (kind, layout.profile) {
        // Byte for byte, as tessera's own `id` column; every key tessera writes is ASCII.
        (Kind::MySql, _) => "VARBINARY(255)",
        (Kind::Sqlite, _) => "TEXT",
        (Kind::Postgres, Profile::Django) => "varchar(40)",
        (Kind::Postgres, Profile::FlaskSession) => "VARCHAR(255)",
        (Kind::Postgres, _) => "TEXT",
    };
    let until = match (kind, layout.deadline_type) {
        (Kind::Postgres | Kind::MySql, DeadlineType::Unix) => "BIGINT",
        (Kind::Sqlite, DeadlineType::Unix) => "INTEGER",
        (Kind::Postgres, DeadlineType::Naive) => "TIMESTAMP WITHOUT TIME ZONE",
        (Kind::MySql, DeadlineType::Naive) => "DATETIME",
        (Kind::Postgres, DeadlineType::Django) => "timestamp with time zone",
        (Kind::MySql, DeadlineType::Django) => "datetime(6)",
        (Kind::Sqlite, _) => "DATETIME",
    };
    let (hash, name) = match kind {
        Kind::Postgres => ("BYTEA", "TEXT"),
        Kind::MySql => (
            "BINARY(32)",
            "TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        ),
        Kind::Sqlite => ("BLOB", "TEXT"),
    };
    let columns = format!(
        "user_hash {hash} NOT NULL, user_name {name} NOT NULL, session_key {key} NOT NULL, \
         until_at {until} NOT NULL, PRIMARY KEY (user_hash, session_key)"
    );
    match kind {
        // MySQL has no CREATE INDEX IF NOT EXISTS: the index is declared with the table.
        Kind::MySql => vec![format!(
            "CREATE TABLE IF NOT EXISTS {t} ({columns}, KEY `{bare}_until_at` (until_at)) \
             ENGINE=InnoDB"
        )],
        _ => vec![
            format!("CREATE TABLE IF NOT EXISTS {t} ({columns})"),
            format!("CREATE INDEX IF NOT EXISTS \"{bare}_until_at\" ON {t} (until_at)"),
        ],
    }
}

/// A [`SqlStore`](super::SqlStore)'s index, on the store's pool, clock and timeout.
pub(crate) struct SqlUserIndex<D: Dialect> {
    pool: sqlx::Pool<D::Db>,
    common: Common,
    codec: SharedCodec,
    layout: &'static Table,
    pub(crate) sql: IndexStatements,
    /// Whether the table exists: made by the store's migration, or found at start.
    present: Arc<AtomicBool>,
}

// By hand: a derive would ask for `D::Db: Clone`.
impl<D: Dialect> Clone for SqlUserIndex<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            common: self.common.clone(),
            codec: self.codec.clone(),
            layout: self.layout,
            sql: self.sql.clone(),
            present: self.present.clone(),
        }
    }
}

impl<D: Dialect> fmt::Debug for SqlUserIndex<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlUserIndex")
            .field("table", &self.sql.table)
            .field("present", &self.is_present())
            .finish_non_exhaustive()
    }
}

impl<D: Dialect> SqlUserIndex<D> {
    pub(crate) fn new(
        pool: sqlx::Pool<D::Db>,
        common: Common,
        codec: SharedCodec,
        layout: &'static Table,
        sql: IndexStatements,
    ) -> Self {
        Self {
            pool,
            common,
            codec,
            layout,
            sql,
            present: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the index table is known to exist.
    pub(crate) fn is_present(&self) -> bool {
        self.present.load(Ordering::Acquire)
    }

    /// Notes that the table exists (the migration made it).
    pub(crate) fn mark_present(&self) {
        self.present.store(true, Ordering::Release);
    }

    /// Looks for the table (the store did not create it): present if it reads, absent (with a
    /// warning saying how to make it) if the database refuses; a timeout is an error.
    pub(crate) async fn probe(&self) -> Result<(), Error> {
        let read = self.common.bounded(
            "open",
            D::is_timeout,
            D::Db::fetch(&self.pool, &self.sql.probe, vec![], &[]),
        );
        match read.await {
            Ok(_) => self.mark_present(),
            Err(Error::Unavailable { source, .. }) => tracing::warn!(
                table = %self.sql.table,
                error = %source,
                "the index of sessions by user is off: its table is missing and the store may not create it (migrate=false); create it as the SqlStore docs show, or migrate"
            ),
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// The session table's key of `id`, if the layout takes it (Django's keys only).
    fn key(&self, id: &SessionId) -> Option<Param> {
        self.common.key_param(&self.codec, self.layout, id)
    }

    /// The id a key of the table names, if it is one this store wrote.
    fn id_of(&self, key: &[u8]) -> Option<SessionId> {
        let key = std::str::from_utf8(key).ok()?;
        let id = if self.layout.prefixed {
            key.strip_prefix(self.common.key_prefix.as_str())?
        } else {
            key
        };
        let id = SessionId::parse(id).ok()?;
        self.codec.accepts_id(&id).then_some(id)
    }

    fn at(&self, at: OffsetDateTime) -> Param {
        Param::deadline(D::KIND, self.layout, at)
    }

    async fn execute(&self, op: &'static str, sql: &str, params: Vec<Param>) -> Result<u64, Error> {
        let done = self
            .common
            .bounded(op, D::is_timeout, D::Db::execute(&self.pool, sql, params))
            .await?;
        Ok(D::done(done).rows)
    }

    /// Deletes expired entries a batch at a time (as the store's `clear_expired` does its
    /// rows), each batch bounded by the timeout; how many went.
    pub(crate) async fn clear(&self) -> Result<u64, Error> {
        self.common
            .clear_in_batches(
                |now, batch| async move {
                    let params = vec![self.at(now), Param::Int(batch)];
                    self.execute("clear expired index entries", &self.sql.clear_batch, params)
                        .await
                },
                |_| {},
            )
            .await
    }
}

/// The column value naming `user`: a hash, so any string is one fixed-size, exact key.
fn user_hash(user: &str) -> Param {
    Param::Bytes(Sha256::digest(user.as_bytes()).to_vec())
}

#[async_trait]
impl<D: Dialect> UserIndex for SqlUserIndex<D> {
    async fn enter(&self, user: &str, id: &SessionId, until: OffsetDateTime) -> Result<(), Error> {
        let key = self.key(id).ok_or_else(|| Error::RefusedId {
            id: id.clone(),
            reason: "Django's session keys are 8 to 40 characters of a-z and 0-9",
        })?;
        let params = vec![
            user_hash(user),
            Param::Text(user.to_owned()),
            key,
            self.at(until),
        ];
        self.execute("enter a session in the user index", &self.sql.enter, params)
            .await
            .map(|_| ())
    }

    async fn entries(&self, user: &str) -> Result<Vec<SessionId>, Error> {
        // MySQL's keys are `VARBINARY`, which sqlx reads as bytes only.
        let col = if D::KIND == Kind::MySql {
            Col::Bytes
        } else {
            Col::Text
        };
        let now = self.at(self.common.clock.now());
        let rows = self
            .common
            .bounded(
                "read the user index",
                D::is_timeout,
                D::Db::fetch_all(
                    &self.pool,
                    &self.sql.entries,
                    vec![user_hash(user), now],
                    &[col],
                ),
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| row.into_iter().next().and_then(Value::into_bytes))
            .filter_map(|key| self.id_of(&key))
            .collect())
    }

    async fn remove(&self, user: &str, ids: &[SessionId]) -> Result<(), Error> {
        let keys: Vec<Param> = ids.iter().filter_map(|id| self.key(id)).collect();
        for chunk in keys.chunks(REMOVE_CHUNK) {
            let mut params = Vec::with_capacity(chunk.len() + 1);
            params.push(user_hash(user));
            params.extend(chunk.iter().cloned());
            let sql = self.sql.remove(chunk.len());
            self.execute("remove from the user index", &sql, params)
                .await?;
        }
        Ok(())
    }

    async fn clear_expired(&self) -> Result<u64, Error> {
        self.clear().await
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::{DJANGO, FLASK_SESSION, NATIVE};
    use super::*;

    #[test]
    fn statements_keep_their_shape() {
        let s = IndexStatements::new(Kind::Postgres, &NATIVE, "\"t_users\"", "t_users");
        assert_eq!(
            s.migrations[0],
            "CREATE TABLE IF NOT EXISTS \"t_users\" (user_hash BYTEA NOT NULL, user_name TEXT NOT NULL, \
             session_key TEXT NOT NULL, until_at BIGINT NOT NULL, PRIMARY KEY (user_hash, session_key))"
        );
        assert_eq!(
            s.remove(2),
            "DELETE FROM \"t_users\" WHERE user_hash = $1 AND session_key IN ($2, $3)"
        );
        let s = IndexStatements::new(Kind::MySql, &DJANGO, "`d_users`", "d_users");
        assert!(s.enter.contains("CAST(? AS DATETIME(6))"), "{}", s.enter);
        assert!(s.migrations[0].contains("until_at datetime(6) NOT NULL"));
        let s = IndexStatements::new(Kind::Sqlite, &FLASK_SESSION, "\"s_users\"", "s_users");
        assert_eq!(
            s.remove(1),
            "DELETE FROM \"s_users\" WHERE user_hash = ?1 AND session_key IN (?2)"
        );
        assert!(s.enter.ends_with("MAX(until_at, excluded.until_at)"));
    }

    #[test]
    fn users_are_hashed_exactly() {
        let (a, b) = (user_hash("ada"), user_hash("Ada"));
        assert!(matches!((a, b), (Param::Bytes(a), Param::Bytes(b)) if a != b && a.len() == 32));
    }
}
