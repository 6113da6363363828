use std::sync::Arc;

use http::StatusCode;

use crate::session::Stale;
use crate::store;

/// Loading or saving a session failed.
///
/// The middleware answers a failed save with [`status`](Self::status) in place of the
/// handler's response, with an empty body, and puts the error in that response's extensions
/// as a [`SaveFailure`], for an outer layer that wants to render or count it. With the `axum`
/// feature it is also a response itself, so a handler that loads the session by hand can use
/// `?`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The store failed or timed out: `503 Service Unavailable`.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The request wrote a key from a value another request changed meanwhile (see
    /// [concurrent requests](crate::Session#concurrent-requests)); nothing of the request was
    /// saved: `409 Conflict`.
    #[error(transparent)]
    Conflict(#[from] Stale),
    /// Other requests kept saving the session; the save gave up after this many tries (or the
    /// configured retry time): `409 Conflict`.
    #[error("the session kept changing under concurrent requests; gave up after {0} attempts")]
    Contended(u32),
    /// Another request deleted the session (a logout) while this one was running; its changes
    /// were not saved, so the logout stands (Django's `SessionInterrupted`): `400 Bad Request`.
    #[error("the session was deleted by a concurrent request before this request could save it")]
    Interrupted,
    /// The request changed a session that was read-only because the store was unavailable
    /// when it was loaded ([`StoreOutage::Anonymous`](crate::config::StoreOutage::Anonymous));
    /// nothing was sent to the store: `503 Service Unavailable`. The source is the store's
    /// error at load.
    #[error("the session was read-only because its store was unavailable when it was loaded; the request's changes were not saved")]
    ReadOnly(#[source] Arc<store::Error>),
}

impl SessionError {
    /// The status a request gets for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Store(_) | Self::ReadOnly(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Conflict(_) | Self::Contended(_) => StatusCode::CONFLICT,
            Self::Interrupted => StatusCode::BAD_REQUEST,
        }
    }
}

/// Why the middleware replaced a handler's response: found in that response's extensions.
///
/// ```
/// use tessera::middleware::SaveFailure;
///
/// fn explain<B>(response: &http::Response<B>) -> Option<String> {
///     let failure = response.extensions().get::<SaveFailure>()?;
///     Some(failure.error().to_string())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct SaveFailure(Arc<SessionError>);

impl SaveFailure {
    pub(crate) fn new(error: SessionError) -> Self {
        Self(Arc::new(error))
    }

    /// The error.
    pub fn error(&self) -> &SessionError {
        &self.0
    }
}
