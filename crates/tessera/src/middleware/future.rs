use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderValue, Response};
use pin_project_lite::pin_project;
use tracing::{error, warn};

use super::commit::{commit_now, commit_store, CookieUpdate};
use super::{outage, LazySession, SaveFailure, SessionError};

type Commit = Pin<Box<dyn Future<Output = Result<CookieUpdate, SessionError>> + Send>>;

pin_project! {
    /// The response future of [`SessionService`](super::SessionService): the inner service's
    /// response, then the session's save.
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Inner { #[pin] inner: F, lazy: Option<LazySession> },
        Saving { commit: Commit, response: Option<Response<B>> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn new(inner: F, lazy: LazySession) -> Self {
        Self {
            state: State::Inner {
                inner,
                lazy: Some(lazy),
            },
        }
    }
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { inner, lazy } => {
                    let response = ready!(inner.poll(cx))?;
                    let Some(lazy) = lazy.take().filter(LazySession::is_loaded) else {
                        return Poll::Ready(Ok(response));
                    };
                    // Cookie sessions and read-only server-side sessions finish here, with no
                    // boxed future and no store call.
                    let Some(opened) = lazy.inner.opened.get() else {
                        return Poll::Ready(Ok(response));
                    };
                    // A session the store could not load is never saved: no store call either.
                    if let Some(outcome) = outage::finish(opened) {
                        let mut response = response;
                        return Poll::Ready(
                            Ok(respond(&mut response, outcome).unwrap_or(response)),
                        );
                    }
                    let work = match commit_now(&lazy.inner.shared, opened) {
                        Ok(update) => {
                            let mut response = response;
                            return Poll::Ready(Ok(
                                respond(&mut response, Ok(update)).unwrap_or(response)
                            ));
                        }
                        Err(work) => work,
                    };
                    let commit: Commit = Box::pin(async move {
                        let inner = &lazy.inner;
                        match inner.opened.get() {
                            Some(opened) => commit_store(&inner.shared, opened, work).await,
                            None => Ok(CookieUpdate::Keep),
                        }
                    });
                    this.state.set(State::Saving {
                        commit,
                        response: Some(response),
                    });
                }
                StateProj::Saving { commit, response } => {
                    let outcome = ready!(commit.as_mut().poll(cx));
                    let mut response = response.take().unwrap_or_default();
                    return Poll::Ready(Ok(respond(&mut response, outcome).unwrap_or(response)));
                }
            }
        }
    }
}

/// Applies the save's outcome to `response`; `Some` is an error response replacing it.
fn respond<B: Default>(
    response: &mut Response<B>,
    outcome: Result<CookieUpdate, SessionError>,
) -> Option<Response<B>> {
    finish(response, outcome).map(|error| {
        let mut failed = Response::new(B::default());
        *failed.status_mut() = error.status();
        failed.extensions_mut().insert(SaveFailure::new(error));
        failed
    })
}

/// Applies the save's outcome to the response; `Some(error)` replaces it with an error.
fn finish<B>(
    response: &mut Response<B>,
    outcome: Result<CookieUpdate, SessionError>,
) -> Option<SessionError> {
    let headers = response.headers_mut();
    let varies = headers
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim() == "*" || v.trim().eq_ignore_ascii_case("cookie"));
    if !varies {
        headers.append(VARY, HeaderValue::from_static("Cookie"));
    }
    match outcome {
        Ok(CookieUpdate::Keep) => None,
        Ok(CookieUpdate::Set(cookie)) => {
            headers.append(SET_COOKIE, cookie);
            // A response that sets (or expires) the cookie must never be cached and replayed
            // to another user (OWASP Session Management Cheat Sheet, "Web content caching").
            // A Cache-Control the handler chose is kept: it said what it wants.
            if !headers.contains_key(CACHE_CONTROL) {
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            None
        }
        Err(error) => {
            match &error {
                SessionError::Store(_) => {
                    error!(error = %crate::chain::Chain(&error), "could not save the session");
                }
                // Concurrency outcomes the application is told about: not server faults.
                _ => warn!(error = %crate::chain::Chain(&error), "the session was not saved"),
            }
            Some(error)
        }
    }
}
