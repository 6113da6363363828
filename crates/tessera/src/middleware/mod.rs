//! The tower middleware: [`SessionLayer`] loads the session lazily for each request and saves
//! what changed after the handler returns.
//!
//! The lifecycle follows Flask's `open_session` / `save_session` and Django's
//! `SessionMiddleware`:
//!
//! - nothing happens until a handler asks for the session, so a handler that never does costs
//!   no store call and no cookie parsing;
//! - a missing, tampered, truncated, oversized or expired cookie, or a corrupt stored record,
//!   is a fresh empty session and a `tracing` warning;
//! - after the handler: a changed session is saved (or every loaded session, with
//!   `save_every_request`), an emptied or flushed one is deleted with its cookie, a read-only
//!   one causes no write; the cookie is set when the session is saved, its id changed, its
//!   expiry is refreshed, or its key was rotated; `Vary: Cookie` marks every response whose
//!   session was loaded;
//! - saves are conditional. Commits of one session in one process take turns, and a commit
//!   behind another lays its changes over the record that one wrote. When another app server
//!   saved meanwhile, the request waits a random pause whose bound doubles with each try
//!   (250 µs up to 32 ms), reloads the record past any cache
//!   ([`SessionStore::reload`](crate::store::SessionStore::reload)), lays its per-key changes
//!   over it and saves again, for at most the configured retry time. What is merged and what is
//!   refused (`409`) is described under [concurrent requests](crate::Session#concurrent-requests);
//!   a session deleted meanwhile is not resurrected and the request gets `400`;
//! - a store that fails or does not answer within the timeout turns the response into a
//!   `503 Service Unavailable` and logs the cause. A response replaced because of a failed
//!   save carries the [`SaveFailure`] in its extensions. With
//!   [`StoreOutage::Anonymous`](crate::config::StoreOutage::Anonymous), a store that fails
//!   while the session is *loaded* gives the handler an empty read-only session instead; its
//!   response keeps the client's cookie as it is, and is replaced by a `503`
//!   ([`SessionError::ReadOnly`]) only if the handler wrote the session.

mod bounded;
mod commit;
mod cookies;
mod error;
mod future;
mod ids;
mod layer;
mod lazy;
mod load;
mod outage;
mod queue;
mod service;

pub use error::{SaveFailure, SessionError};
pub use future::ResponseFuture;
pub use layer::SessionLayer;
pub use lazy::LazySession;
pub use service::SessionService;

use crate::config::SessionConfig;
use std::sync::Arc;

use crate::cookie_session::CookieCodec;
use crate::store::SharedStore;

/// What every request of one layer shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SessionConfig,
    pub(crate) backend: Backend,
    /// The store bounds its own calls within `config.store_timeout`: no second timer.
    pub(crate) store_bounds_itself: bool,
    /// One commit at a time per session.
    pub(crate) queues: queue::CommitQueues,
    /// The application's lifecycle hook ([`SessionLayer::with_events`]).
    pub(crate) events: Option<crate::events::Hook>,
}

impl Shared {
    /// The per-user side of this layer's storage.
    pub(crate) fn users(&self) -> crate::users::Users {
        let store = match &self.backend {
            Backend::Store { store, .. } => Some(store.clone()),
            Backend::Cookie(_) => None,
        };
        crate::users::Users::new(
            store,
            self.config.clock.clone(),
            self.config.store_timeout,
            self.events.clone(),
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Cookie(Arc<dyn CookieCodec>),
    Store {
        store: SharedStore,
        /// How the id travels in the cookie.
        ids: ids::IdCookie,
    },
}
