//! The `flask-session` profile of the SQL stores: the table Flask-Session 0.8 declares for
//! `SESSION_TYPE="sqlalchemy"` (its `create_session_model`), as SQLAlchemy 2 creates it:
//!
//! | column | PostgreSQL | SQLite | holds |
//! |---|---|---|---|
//! | `id` | `SERIAL` primary key | `INTEGER` primary key | a row number |
//! | `session_id` | `VARCHAR(255)`, `UNIQUE` | `VARCHAR(255)`, `UNIQUE` | key prefix + session id |
//! | `data` | `BYTEA` | `BLOB` | the session dict in msgpack, `_permanent` included |
//! | `expiry` | `TIMESTAMP WITHOUT TIME ZONE` | `DATETIME` (text `YYYY-MM-DD HH:MM:SS.ffffff`) | the deadline, naive UTC (`datetime.utcnow()`) |
//!
//! Python's rows carry no version, so the version is a hash of `data`: a save of a loaded
//! session locks the row (`SELECT … FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite),
//! checks the stored bytes' hash and writes in the same transaction. A new session is one
//! upsert that replaces only an expired row. Rows whose `expiry` has passed (or is `NULL`,
//! which Flask-Session treats as expired) are never returned.

use time::OffsetDateTime;

/// The SQL dialect a statement is written in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dialect {
    #[cfg(feature = "postgres")]
    Postgres,
    #[cfg(feature = "sqlite")]
    Sqlite,
}

/// The table Flask-Session uses unless told otherwise (`SESSION_SQLALCHEMY_TABLE`).
pub const DEFAULT_TABLE: &str = "sessions";

/// The statements of the `flask-session` profile, for one quoted table name.
#[derive(Debug, Clone)]
pub(crate) struct FlaskStatements {
    /// SQLAlchemy's `CREATE TABLE`, made idempotent.
    pub(crate) create: String,
    /// `data`, deadline in Unix seconds; binds key, now.
    pub(crate) load: String,
    /// `data` of the live row, locked for the transaction; binds key, now.
    pub(crate) lock: String,
    /// Inserts, or replaces an expired row; returns a row if it wrote. Binds key, data,
    /// expiry, now.
    pub(crate) insert: String,
    /// Binds data, expiry, key.
    pub(crate) update: String,
    /// Binds key.
    pub(crate) delete: String,
    /// Binds expiry, key, now.
    pub(crate) touch: String,
    /// Binds now, batch size.
    pub(crate) clear_batch: String,
}

impl FlaskStatements {
    pub(crate) fn new(dialect: Dialect, t: &str) -> Self {
        match dialect {
            #[cfg(feature = "postgres")]
            Dialect::Postgres => {
                let epoch = "CAST(FLOOR(EXTRACT(EPOCH FROM expiry)) AS BIGINT)";
                Self {
                    create: format!(
                        "CREATE TABLE IF NOT EXISTS {t} (\
                         id SERIAL NOT NULL, \
                         session_id VARCHAR(255), \
                         data BYTEA, \
                         expiry TIMESTAMP WITHOUT TIME ZONE, \
                         PRIMARY KEY (id), \
                         UNIQUE (session_id))"
                    ),
                    load: format!(
                        "SELECT data, {epoch} FROM {t} \
                         WHERE session_id = $1 AND expiry > CAST($2 AS TIMESTAMP)"
                    ),
                    lock: format!(
                        "SELECT data FROM {t} \
                         WHERE session_id = $1 AND expiry > CAST($2 AS TIMESTAMP) FOR UPDATE"
                    ),
                    insert: format!(
                        "INSERT INTO {t} AS s (session_id, data, expiry) \
                         VALUES ($1, $2, CAST($3 AS TIMESTAMP)) \
                         ON CONFLICT (session_id) DO UPDATE \
                         SET data = EXCLUDED.data, expiry = EXCLUDED.expiry \
                         WHERE s.expiry IS NULL OR s.expiry <= CAST($4 AS TIMESTAMP) \
                         RETURNING 1"
                    ),
                    update: format!(
                        "UPDATE {t} SET data = $1, expiry = CAST($2 AS TIMESTAMP) \
                         WHERE session_id = $3"
                    ),
                    delete: format!("DELETE FROM {t} WHERE session_id = $1"),
                    touch: format!(
                        "UPDATE {t} SET expiry = CAST($1 AS TIMESTAMP) \
                         WHERE session_id = $2 AND expiry > CAST($3 AS TIMESTAMP)"
                    ),
                    clear_batch: format!(
                        "DELETE FROM {t} WHERE id IN \
                         (SELECT id FROM {t} WHERE expiry IS NULL OR expiry <= CAST($1 AS TIMESTAMP) \
                          LIMIT $2 FOR UPDATE SKIP LOCKED) \
                         AND (expiry IS NULL OR expiry <= CAST($1 AS TIMESTAMP))"
                    ),
                }
            }
            // SQLAlchemy keeps SQLite's DATETIME as fixed-width text, so comparing the text
            // compares the times.
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => Self {
                create: format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     id INTEGER NOT NULL, \
                     session_id VARCHAR(255), \
                     data BLOB, \
                     expiry DATETIME, \
                     PRIMARY KEY (id), \
                     UNIQUE (session_id))"
                ),
                load: format!(
                    "SELECT data, CAST(strftime('%s', expiry) AS INTEGER) FROM {t} \
                     WHERE session_id = ?1 AND expiry > ?2"
                ),
                lock: format!("SELECT data FROM {t} WHERE session_id = ?1 AND expiry > ?2"),
                insert: format!(
                    "INSERT INTO {t} (session_id, data, expiry) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (session_id) DO UPDATE \
                     SET data = excluded.data, expiry = excluded.expiry \
                     WHERE {t}.expiry IS NULL OR {t}.expiry <= ?4 \
                     RETURNING 1"
                ),
                update: format!("UPDATE {t} SET data = ?1, expiry = ?2 WHERE session_id = ?3"),
                delete: format!("DELETE FROM {t} WHERE session_id = ?1"),
                touch: format!("UPDATE {t} SET expiry = ?1 WHERE session_id = ?2 AND expiry > ?3"),
                clear_batch: format!(
                    "DELETE FROM {t} WHERE rowid IN \
                     (SELECT rowid FROM {t} WHERE expiry IS NULL OR expiry <= ?1 LIMIT ?2)"
                ),
            },
        }
    }
}

/// A time as the `expiry` column's text.
pub(crate) fn expiry(at: OffsetDateTime) -> String {
    crate::interop::flask_session::naive_utc(at)
}

/// The Unix second `now` (as `clear_in_batches` passes it) as the `expiry` column's text.
pub(crate) fn expiry_from_unix(now: i64) -> String {
    expiry(OffsetDateTime::from_unix_timestamp(now).unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

/// The `SessionStore` methods of the `flask-session` profile for a store with `pool`,
/// `common` (whose `flask` is set), `flask` ([`FlaskStatements`]) fields and a
/// `begin_write` method that starts a transaction holding the write lock.
macro_rules! flask_session_methods {
    ($store:ty, $is_timeout:path) => {
        impl $store {
            async fn flask_load(
                &self,
                id: &$crate::id::SessionId,
                policy: $crate::expiry::ExpiryPolicy,
            ) -> Result<Option<$crate::store::Loaded>, $crate::store::Error> {
                let row: Option<(Option<Vec<u8>>, Option<i64>)> = self
                    .common
                    .bounded(
                        "load",
                        $is_timeout,
                        ::sqlx::query_as(&self.flask.load)
                            .bind(self.common.key(id))
                            .bind($crate::store::sql::flask_session::expiry(
                                self.common.clock.now(),
                            ))
                            .fetch_optional(&self.pool),
                    )
                    .await?;
                let Some((data, expires_at)) = row else {
                    return Ok(None);
                };
                let data = data
                    .ok_or_else(|| $crate::store::Error::corrupt(id, "the row's `data` is NULL"))?;
                let expires_at = expires_at
                    .and_then(|at| ::time::OffsetDateTime::from_unix_timestamp(at).ok())
                    .ok_or_else(|| {
                        $crate::store::Error::corrupt(id, "the row's `expiry` is unreadable")
                    })?;
                let dict = $crate::interop::flask_session::decode_record(&data)
                    .map_err(|e| $crate::store::Error::corrupt(id, e))?;
                Ok(Some($crate::store::Loaded {
                    record: $crate::interop::flask::record_from_dict(dict, policy, expires_at),
                    version: $crate::store::content_version(&data),
                }))
            }

            async fn flask_save(
                &self,
                id: &$crate::id::SessionId,
                record: &$crate::record::Record,
                expected: $crate::store::Expected,
                policy: $crate::expiry::ExpiryPolicy,
            ) -> Result<$crate::store::Saved, $crate::store::Error> {
                use $crate::store::sql::flask_session::expiry;
                use $crate::store::{Expected, Saved};
                let key = self.common.key(id);
                let now = expiry(self.common.clock.now());
                let data = $crate::interop::flask_session::encode_record(
                    &$crate::interop::flask::dict_from_record(record, policy),
                );
                let version = $crate::store::content_version(&data);
                let expired = self.common.is_expired(record);
                match expected {
                    Expected::Absent if expired => {
                        // Nothing to store; the precondition holds unless a live row exists.
                        let live: Option<(Option<Vec<u8>>, Option<i64>)> = self
                            .common
                            .bounded(
                                "save",
                                $is_timeout,
                                ::sqlx::query_as(&self.flask.load)
                                    .bind(key)
                                    .bind(now)
                                    .fetch_optional(&self.pool),
                            )
                            .await?;
                        Ok(match live {
                            Some(_) => Saved::Conflict,
                            None => Saved::Written(version),
                        })
                    }
                    Expected::Absent => {
                        let wrote: Option<i32> = self
                            .common
                            .bounded(
                                "save",
                                $is_timeout,
                                ::sqlx::query_scalar(&self.flask.insert)
                                    .bind(key)
                                    .bind(data)
                                    .bind(expiry(record.expires_at))
                                    .bind(now)
                                    .fetch_optional(&self.pool),
                            )
                            .await?;
                        Ok(match wrote {
                            Some(_) => Saved::Written(version),
                            None => Saved::Conflict,
                        })
                    }
                    Expected::Version(v) => {
                        let deadline = expiry(record.expires_at);
                        self.common
                            .bounded("save", $is_timeout, async {
                                let mut tx = self.begin_write().await?;
                                let stored: Option<Option<Vec<u8>>> =
                                    ::sqlx::query_scalar(&self.flask.lock)
                                        .bind(&key)
                                        .bind(&now)
                                        .fetch_optional(&mut *tx)
                                        .await?;
                                let current =
                                    stored.flatten().map(|d| $crate::store::content_version(&d));
                                if current != Some(v) {
                                    tx.rollback().await?;
                                    return Ok(Saved::Conflict);
                                }
                                if expired {
                                    ::sqlx::query(&self.flask.delete)
                                        .bind(&key)
                                        .execute(&mut *tx)
                                        .await?;
                                } else {
                                    ::sqlx::query(&self.flask.update)
                                        .bind(data)
                                        .bind(deadline)
                                        .bind(&key)
                                        .execute(&mut *tx)
                                        .await?;
                                }
                                tx.commit().await?;
                                Ok(Saved::Written(version))
                            })
                            .await
                    }
                }
            }

            async fn flask_delete(
                &self,
                id: &$crate::id::SessionId,
            ) -> Result<(), $crate::store::Error> {
                self.common
                    .bounded(
                        "delete",
                        $is_timeout,
                        ::sqlx::query(&self.flask.delete)
                            .bind(self.common.key(id))
                            .execute(&self.pool),
                    )
                    .await?;
                Ok(())
            }

            async fn flask_touch(
                &self,
                id: &$crate::id::SessionId,
                expires_at: ::time::OffsetDateTime,
            ) -> Result<bool, $crate::store::Error> {
                use $crate::store::sql::flask_session::expiry;
                let done = self
                    .common
                    .bounded(
                        "touch",
                        $is_timeout,
                        ::sqlx::query(&self.flask.touch)
                            .bind(expiry(expires_at))
                            .bind(self.common.key(id))
                            .bind(expiry(self.common.clock.now()))
                            .execute(&self.pool),
                    )
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}
pub(crate) use flask_session_methods;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_text_is_what_sqlalchemy_writes() {
        assert_eq!(expiry_from_unix(0), "1970-01-01 00:00:00.000000");
        assert_eq!(
            expiry_from_unix(1_767_323_045),
            "2026-01-02 03:04:05.000000"
        );
    }
}
