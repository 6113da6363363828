//! The `flask-session` profile's table: the one Flask-Session 0.8 declares for
//! `SESSION_TYPE="sqlalchemy"` (its `create_session_model`), as SQLAlchemy 2 creates it:
//!
//! | column | PostgreSQL | MySQL / MariaDB | SQLite | holds |
//! |---|---|---|---|---|
//! | `id` | `SERIAL` primary key | `INTEGER AUTO_INCREMENT` primary key | `INTEGER` primary key | a row number |
//! | `session_id` | `VARCHAR(255)`, `UNIQUE` | `VARCHAR(255)`, `UNIQUE` | `VARCHAR(255)`, `UNIQUE` | key prefix + session id |
//! | `data` | `BYTEA` | `BLOB` | `BLOB` | the session dict in msgpack, `_permanent` included |
//! | `expiry` | `TIMESTAMP WITHOUT TIME ZONE` | `DATETIME` | `DATETIME` (text `YYYY-MM-DD HH:MM:SS.ffffff`) | the deadline, naive UTC (`datetime.utcnow()`) |
//!
//! Python's rows carry no version, so the version is a hash of `data`: a save of a loaded
//! session locks the row (`SELECT … FOR UPDATE` on PostgreSQL and MySQL, `BEGIN IMMEDIATE` on
//! SQLite), checks the stored bytes' hash and writes in the same transaction. A new session
//! replaces only an expired row. Rows whose `expiry` has passed (or is `NULL`, which
//! Flask-Session treats as expired) are never returned.
//!
//! ```no_run
//! # async fn example() -> Result<(), tessera::store::Error> {
//! use tessera::store::{open, OpenOptions};
//! use tessera::{ExpiryPolicy, Profile};
//!
//! let options = OpenOptions::default().with_profile(Profile::FlaskSession, ExpiryPolicy::default());
//! let store = open("mysql://app@127.0.0.1/app?table=sessions", &options).await?;
//! # let _ = store; Ok(()) }
//! ```

/// The table Flask-Session uses unless told otherwise (`SESSION_SQLALCHEMY_TABLE`).
pub const DEFAULT_TABLE: &str = "sessions";
