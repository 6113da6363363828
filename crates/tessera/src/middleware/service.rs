use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::{LazySession, ResponseFuture, Shared};

/// The service [`SessionLayer`](super::SessionLayer) wraps around an inner service.
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> SessionService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let devices = &self.shared.config.devices;
        let device = devices
            .on
            .then(|| devices.device(req.headers(), peer(&req)))
            .flatten();
        let lazy = LazySession::new(self.shared.clone(), device);
        req.extensions_mut().insert(lazy.clone());
        ResponseFuture::new(self.inner.call(req), lazy)
    }
}

/// The connection's peer address, as axum's `serve` with `ConnectInfo` puts it.
#[cfg(feature = "axum")]
fn peer<B>(req: &Request<B>) -> Option<std::net::SocketAddr> {
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0)
}

#[cfg(not(feature = "axum"))]
fn peer<B>(_req: &Request<B>) -> Option<std::net::SocketAddr> {
    None
}
