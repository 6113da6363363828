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
//! - key rotation, keyed BLAKE3 signatures, XAES-256-GCM encryption, 256-bit ids from the OS.
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
#![doc = include_str!("../docs/features.md")]
//!
//! Cookie sessions and [`store::cached::CachedStore`] (a cache in front of a database) need no
//! feature; a URL whose store's feature is off is refused with the feature to enable.
//!
//! ## Storage URLs (`SESSION_URL`)
//!
#![doc = include_str!("../docs/storage-urls.md")]
//!
//! Set `SESSION_CACHE_URL` as well to put a second store in front of the `SESSION_URL` one as a
//! cache (Django's `cached_db`), for example `SESSION_URL=postgres://…` with
//! `SESSION_CACHE_URL=redis://127.0.0.1:6379`. SQL stores create their table on start unless
//! the URL says `migrate=false`; [`store::open`] lists every URL parameter, and
//! [`store::Backend::keeps`] which [`Profile`] each store keeps.
//!
//! ## Configuration ([`SessionConfig::from_env`])
//!
#![doc = include_str!("../docs/configuration.md")]
//!
//! [tower]: https://docs.rs/tower
//! [axum]: https://docs.rs/axum

#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod chain;
pub mod clock;
pub mod codec;
mod compress;
pub mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod cookie_session;
pub mod crypto;
pub mod events;
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
pub mod users;

pub use config::{ConfigError, SameSite, SessionConfig, StaleWrites, StoreOutage};
pub use expiry::{Expiry, ExpiryPolicy};
pub use id::SessionId;
pub use interop::Profile;
pub use middleware::{LazySession, SessionError, SessionLayer};
pub use record::{Data, Record, Version};
pub use session::{Session, ValueError};
pub use storage::Storage;

#[cfg(test)]
mod tests {
    /// The README shows the crate docs' tables as they are (docs/*.md is the one copy).
    #[test]
    fn the_readme_carries_the_crate_docs_tables() {
        let readme = include_str!("../../../README.md");
        for (name, table) in [
            ("docs/features.md", include_str!("../docs/features.md")),
            (
                "docs/storage-urls.md",
                include_str!("../docs/storage-urls.md"),
            ),
            (
                "docs/configuration.md",
                include_str!("../docs/configuration.md"),
            ),
        ] {
            assert!(
                readme.contains(table),
                "README.md lacks crates/tessera/{name} as it is; paste it in:\n{table}"
            );
        }
    }
}
