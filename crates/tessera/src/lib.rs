//! # tessera
//!
//! Web sessions for [tower] and [axum]: what Flask's session, Flask-Session and Django's
//! session framework give Python, for Rust services.
//!
//! - a [`Session`] handle with the Django/Flask API (`get`, `insert`, `setdefault`, `remove`,
//!   `clear`, `flush`, `cycle_id`, `set_expiry`, `permanent`, …), typed with serde;
//! - a [`SessionLayer`] with Flask's lifecycle: lazy loading, saving only what changed,
//!   conditional writes that lose no update when requests race (see
//!   [concurrent requests](Session#concurrent-requests)), `Vary: Cookie`;
//! - [`Storage`]: signed or encrypted cookie sessions, or a server-side
//!   [`SessionStore`](store::SessionStore) picked by URL;
//! - key rotation, keyed BLAKE3 signatures, XChaCha20-Poly1305 encryption, 256-bit ids from the OS.
//!
//! ## Quick start
//!
//! ```no_run
//! use axum::{routing::get, Json, Router};
//! use tessera::{Session, SessionConfig, SessionLayer, ValueError};
//!
//! async fn counter(session: Session) -> Result<Json<u64>, ValueError> {
//!     // Read-modify-write that concurrent requests cannot break: see "Concurrent requests".
//!     let count = session.update("count", |n: Option<u64>| n.unwrap_or(0) + 1)?;
//!     Ok(Json(count))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // SECRET_KEY, SESSION_URL, SESSION_COOKIE_NAME, … from the environment.
//!     let layer = SessionLayer::from_config(SessionConfig::from_env()?).await?;
//!     let app = Router::new().route("/", get(counter)).layer(layer);
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app).await?;
//!     Ok(())
//! }
//! ```
//!
//! ## Why the session is loaded by the extractor
//!
//! Extracting a [`Session`] loads it, once per request; its methods are then synchronous. A
//! handler that never extracts it costs no store call, and one that only reads causes no write.
//! Without axum, call [`LazySession::load`] from the request's extensions.
//!
//! ## Cargo features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `axum` | yes | the [`Session`] extractor |
//! | `memory` | yes | [`store::memory::MemoryStore`], URL `memory` |
//! | `redis` | no | [`store::redis::RedisStore`]: Redis and Redis Cluster, URLs `redis://`, `rediss://`, `redis+cluster://` |
//! | `memcached` | no | [`store::memcached::MemcachedStore`], URL `memcached://` |
//! | `file` | no | [`store::file::FileStore`], URL `file:///path/to/dir` |
//! | `postgres` | no | [`store::sql::PostgresStore`] (sqlx), URL `postgres://` |
//! | `mysql` | no | [`store::sql::MySqlStore`] for MySQL and MariaDB (sqlx), URL `mysql://` |
//! | `sqlite` | no | [`store::sql::SqliteStore`] (sqlx, bundled SQLite), URL `sqlite://` |
//! | `mongodb` | no | [`store::mongodb::MongoStore`] (official driver), URL `mongodb://` |
//! | `conformance` | no | [`conformance`]: the suite every store runs, for testing a store of your own |
//!
//! Cookie sessions and [`store::cached::CachedStore`] (a cache in front of a database) need no
//! feature.
//!
//! ## Storage URLs (`SESSION_URL`)
//!
//! | URL | where sessions live |
//! |---|---|
//! | `cookie` or `cookie+signed` | in the cookie, signed (readable by the client) |
//! | `cookie+encrypted` | in the cookie, encrypted |
//! | `memory`, `memory://?capacity=N` | in this process, bounded (default 100,000 sessions) |
//! | `redis://[user:password@]host[:port][/db]`, `rediss://…` | Redis (TLS with `rediss`); Redis expires sessions |
//! | `redis+cluster://host:port,host:port,…` | a Redis Cluster, from any of its nodes |
//! | `memcached://host[:port][?pool=4&max_value=BYTES]` | memcached; it expires (and may evict) sessions |
//! | `file:///path/to/dir[?threshold=500]` | one file per session; past `threshold` files the oldest go |
//!
//! Set `SESSION_CACHE_URL` as well to put a second store in front of the `SESSION_URL` one as a
//! cache (Django's `cached_db`), for example `SESSION_URL=file:///var/lib/app/sessions` with
//! `SESSION_CACHE_URL=redis://127.0.0.1:6379`.
//! | `postgres://user:pw@host:5432/db?table=…&schema=…` | a PostgreSQL table (default `tessera_sessions`) |
//! | `mysql://user:pw@host:3306/db?table=…` (or `mariadb://`) | a MySQL / MariaDB table |
//! | `sqlite://sessions.db`, `sqlite:///abs/path.db`, `sqlite::memory:` | an SQLite file (created if missing) |
//! | `mongodb://host:27017/db?collection=…` | a MongoDB collection (default database `tessera`, collection `sessions`) with a TTL index |
//!
//! SQL stores create their table on start unless the URL says `migrate=false`; see
//! [`store::sql`] for the schema and [`store::open`] for every parameter.
//!
//! A URL whose store's feature is off is refused with the feature to enable.
//!
//! ## Configuration ([`SessionConfig::from_env`])
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `SECRET_KEY` | — | at least 32 bytes; needed by cookie sessions and signed ids |
//! | `SECRET_KEY_FALLBACKS` | — | comma-separated older keys, still accepted, re-signed on use |
//! | `SESSION_URL` | `memory` | where sessions live (table above) |
//! | `SESSION_CACHE_URL` | — | a store put in front of `SESSION_URL`'s as a cache ([`store::cached::CachedStore`]) |
//! | `SESSION_COOKIE_NAME` | `session` | Django uses `sessionid` |
//! | `SESSION_COOKIE_DOMAIN` | host-only | |
//! | `SESSION_COOKIE_PATH` | `/` | |
//! | `SESSION_COOKIE_SECURE` | `false` | turn on behind HTTPS |
//! | `SESSION_COOKIE_HTTPONLY` | `true` | |
//! | `SESSION_COOKIE_SAMESITE` | `Lax` | `Lax`, `Strict`, `None` (needs `Secure`), `false` |
//! | `SESSION_COOKIE_HOST_PREFIX` | `false` | name the cookie `__Host-…` |
//! | `PERMANENT_SESSION_LIFETIME` or `SESSION_COOKIE_AGE` | 2678400 (31 days) | seconds |
//! | `SESSION_PERMANENT` | `true` | `false`: sessions end with the browser unless set otherwise |
//! | `SESSION_EXPIRE_AT_BROWSER_CLOSE` | `false` | Django's name for `SESSION_PERMANENT=false` |
//! | `SESSION_SAVE_EVERY_REQUEST` | `false` | save every loaded session, changed or not |
//! | `SESSION_REFRESH_EACH_REQUEST` | `false` | extend permanent sessions on each load (touch only) |
//! | `SESSION_USE_SIGNER` | `true` | sign the id cookie of server-side stores (not with the `django` profile: Django's cookie carries the bare key) |
//! | `SESSION_COOKIE_COMPRESS` | `false` | deflate cookie sessions |
//! | `SESSION_KEY_PREFIX` | `session:` | prefix of server-side keys |
//! | `SESSION_PROFILE` | `native` | `native`, `flask` or `django`: whose formats to read and write ([`interop`]) |
//! | `SESSION_STORE_TIMEOUT_MS` | `3000` | bound on every store operation; past it the request gets `503` |
//! | `SESSION_STALE_WRITES` | `conflict` | a write based on a value another request changed: `conflict` (`409`) or `last-writer-wins` |
//! | `SESSION_SAVE_RETRY_MS` | `1000` | how long a save retries after conflicts with other app servers |
//!
//! [tower]: https://docs.rs/tower
//! [axum]: https://docs.rs/axum

#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod clock;
pub mod codec;
mod compress;
pub mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod cookie_session;
pub mod crypto;
pub mod expiry;
#[cfg(feature = "axum")]
pub mod extract;
pub mod id;
pub mod interop;
pub mod middleware;
pub mod record;
pub mod session;
pub mod storage;
pub mod store;

pub use config::{ConfigError, SameSite, SessionConfig, StaleWrites};
pub use expiry::{Expiry, ExpiryPolicy};
pub use id::SessionId;
pub use interop::Profile;
pub use middleware::{LazySession, SessionError, SessionLayer};
pub use record::{Data, Record, Version};
pub use session::{Session, ValueError};
pub use storage::Storage;
