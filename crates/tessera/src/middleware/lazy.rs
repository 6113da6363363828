use std::fmt;
use std::sync::{Arc, OnceLock};

use http::HeaderMap;

use super::{load, SessionError, Shared};
use crate::id::SessionId;
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
}

/// A loaded session and what the response needs to know of its cookie.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) session: Session,
    /// The request carried our cookie (valid or not).
    pub(crate) cookie_sent: bool,
    /// A fallback key verified the cookie: send it again under the current key.
    pub(crate) rotated: bool,
    /// The id the cookie named and its signature, when the current key verified it: sending
    /// the same id again reuses the signature instead of signing the id again.
    pub(crate) id_signature: Option<(SessionId, Signature)>,
}

/// The signature part of a signed id cookie (after its last `.`), held inline: kept for every
/// loaded session with a signed id, used only when the cookie is sent again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signature {
    bytes: [u8; Self::MAX],
    len: u8,
}

impl Signature {
    /// Longest signature kept (tessera's is 43 characters, itsdangerous' SHA-1 one 27).
    const MAX: usize = 64;

    /// The signature of `value` (`id.signature`), if it has one that fits.
    pub(crate) fn of(value: &str) -> Option<Self> {
        let (_, signature) = value.rsplit_once('.')?;
        let len = u8::try_from(signature.len())
            .ok()
            .filter(|&n| usize::from(n) <= Self::MAX)?;
        let mut bytes = [0u8; Self::MAX];
        bytes[..signature.len()].copy_from_slice(signature.as_bytes());
        Some(Self { bytes, len })
    }

    /// `id.signature`.
    pub(crate) fn cookie_value(&self, id: &SessionId) -> Option<String> {
        let signature = std::str::from_utf8(&self.bytes[..usize::from(self.len)]).ok()?;
        let mut value = String::with_capacity(id.expose().len() + 1 + signature.len());
        value.push_str(id.expose());
        value.push('.');
        value.push_str(signature);
        Some(value)
    }
}

impl LazySession {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            inner: Arc::new(Inner {
                shared,
                opened: OnceLock::new(),
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
        if let Some(opened) = self.inner.opened.get() {
            return Ok(opened.session.clone());
        }
        let opened = load::open(&self.inner.shared, headers).await?;
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
