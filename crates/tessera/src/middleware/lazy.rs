use std::fmt;
use std::sync::{Arc, OnceLock};

use http::HeaderMap;

use super::load::{self, Opened};
use super::{SessionError, Shared};
use crate::config::Device;
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
    pub(crate) opened: OnceLock<Opened>,
    /// The request's device, noted when the configuration records devices.
    pub(crate) device: Option<Device>,
}

impl LazySession {
    pub(crate) fn new(shared: Arc<Shared>, device: Option<Device>) -> Self {
        Self {
            inner: Arc::new(Inner {
                shared,
                opened: OnceLock::new(),
                device,
            }),
        }
    }

    /// Loads the session named by the cookie in `headers`, the request's headers (once per
    /// request; later calls return the same session). The `Cookie` header is read only now,
    /// so a request whose handler never asks for its session never parses it.
    ///
    /// A bad cookie or a corrupt record gives a fresh session; only a failing store is an
    /// error ([`SessionError::Store`]), unless the configuration says
    /// [`StoreOutage::Anonymous`](crate::config::StoreOutage::Anonymous): then it is an empty,
    /// read-only session whose [`store_unavailable`](Session::store_unavailable) is `true`.
    pub async fn load(&self, headers: &HeaderMap) -> Result<Session, SessionError> {
        if let Some(opened) = self.inner.opened.get() {
            return Ok(opened.session.clone());
        }
        let mut opened = load::open(&self.inner.shared, headers).await?;
        opened.device.clone_from(&self.inner.device);
        // Two loads of one request racing each read the store; the first to finish is kept and
        // both return its session. (Cheaper than an asynchronous once-cell's semaphore, which
        // every request that loads its session would pay for a race that is rare.)
        Ok(self.inner.opened.get_or_init(|| opened).session.clone())
    }

    /// Whether a handler has loaded the session.
    pub fn is_loaded(&self) -> bool {
        self.inner.opened.get().is_some()
    }
}

impl fmt::Debug for LazySession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazySession")
            .field("loaded", &self.is_loaded())
            .finish_non_exhaustive()
    }
}
