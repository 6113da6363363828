use std::fmt;
use std::sync::Arc;

use http::HeaderMap;
use tokio::sync::OnceCell;

use super::{load, SessionError, Shared};
use crate::session::Session;

/// The session of one request, not loaded until a handler asks for it.
///
/// [`SessionLayer`](super::SessionLayer) puts one in every request's extensions. The axum
/// extractor calls [`load`](Self::load) for you; other tower services call it themselves:
///
/// ```
/// use tessera::LazySession;
///
/// async fn handler(req: http::Request<()>) -> Result<String, tessera::SessionError> {
///     let Some(lazy) = req.extensions().get::<LazySession>() else {
///         return Ok("no session layer".into());
///     };
///     let session = lazy.load(req.headers()).await?;
///     Ok(format!("{} keys", session.len()))
/// }
/// ```
#[derive(Clone)]
pub struct LazySession {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) opened: OnceCell<Opened>,
}

/// A loaded session and what the response needs to know of its cookie.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) session: Session,
    /// The request carried our cookie (valid or not).
    pub(crate) cookie_sent: bool,
    /// A fallback key verified the cookie: send it again under the current key.
    pub(crate) rotated: bool,
    /// The signed cookie value as received, when the current key verified it: sending the same
    /// id again reuses it instead of signing the id again.
    pub(crate) id_cookie: Option<String>,
}

impl LazySession {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            inner: Arc::new(Inner {
                shared,
                opened: OnceCell::new(),
            }),
        }
    }

    /// Loads the session named by the cookie in `headers`, the request's headers (once per
    /// request; later calls return the same session). The `Cookie` header is read only now,
    /// so a request whose handler never asks for its session never parses it.
    ///
    /// A bad cookie or a corrupt record gives a fresh session; only a failing store is an
    /// error.
    pub async fn load(&self, headers: &HeaderMap) -> Result<Session, SessionError> {
        let opened = self
            .inner
            .opened
            .get_or_try_init(|| load::open(&self.inner.shared, headers))
            .await?;
        Ok(opened.session.clone())
    }

    /// Whether a handler has loaded the session.
    pub fn is_loaded(&self) -> bool {
        self.inner.opened.initialized()
    }
}

impl fmt::Debug for LazySession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazySession")
            .field("loaded", &self.is_loaded())
            .finish_non_exhaustive()
    }
}
