//! The axum extractor for [`Session`] (feature `axum`).

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::StatusCode;

use crate::middleware::{LazySession, SessionError};
use crate::session::{Session, ValueError};

/// Why a [`Session`] could not be extracted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionRejection {
    /// The route is not behind a [`SessionLayer`](crate::SessionLayer): a `500`.
    #[error("no session: this route is not behind tessera's SessionLayer; add `.layer(SessionLayer::new(storage, config)?)` to the router")]
    MissingLayer,
    /// The store failed or timed out (with the default
    /// [`StoreOutage::Unavailable`](crate::config::StoreOutage::Unavailable)): a `503`.
    #[error("the session store is unavailable")]
    Unavailable(#[source] SessionError),
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(error) => {
                tracing::error!(error = %crate::chain::Chain(error), "could not load the session");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        (status, self.to_string()).into_response()
    }
}

/// A value that does not convert is the server's problem, not the client's: `500`, with a body
/// that names no key and no value (the error is logged).
///
/// ```
/// use tessera::{Session, ValueError};
///
/// async fn visits(session: Session) -> Result<String, ValueError> {
///     let n = session.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1)?;
///     Ok(n.to_string())
/// }
/// ```
impl IntoResponse for ValueError {
    fn into_response(self) -> Response {
        tracing::error!(error = %crate::chain::Chain(&self), "a session value could not be converted");
        let status = StatusCode::INTERNAL_SERVER_ERROR;
        (status, status.canonical_reason().unwrap_or_default()).into_response()
    }
}

/// [`SessionError::status`], with the status's reason as the body (nothing of the session).
impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        let status = self.status();
        if matches!(self, Self::Store(_)) {
            tracing::error!(error = %crate::chain::Chain(&self), "session store failure");
        } else {
            tracing::warn!(error = %crate::chain::Chain(&self), "session not saved");
        }
        (status, status.canonical_reason().unwrap_or_default()).into_response()
    }
}

/// Extracting a `Session` loads it (one store round trip for server-side stores, none for
/// cookie sessions); after that, reads and writes are plain method calls.
///
/// ```
/// use tessera::{Session, ValueError};
///
/// async fn whoami(session: Session) -> Result<String, ValueError> {
///     session.get_or("user", "nobody".to_owned())
/// }
/// ```
impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        layer_of(parts)?
            .load(&parts.headers)
            .await
            .map_err(SessionRejection::Unavailable)
    }
}

/// The per-user side of the request's session layer: see [`Users`](crate::users::Users).
impl<S: Send + Sync> FromRequestParts<S> for crate::users::Users {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(layer_of(parts)?.inner.shared.users())
    }
}

/// The request's session, which the layer put in its extensions.
fn layer_of(parts: &Parts) -> Result<&LazySession, SessionRejection> {
    parts
        .extensions
        .get::<LazySession>()
        .ok_or(SessionRejection::MissingLayer)
}
