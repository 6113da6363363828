//! A small app behind [`SessionLayer`], called in-process: a hand-written service, so the suite
//! needs no web framework.

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{COOKIE, SET_COOKIE, VARY};
use http::{Request, Response, StatusCode};
use tower_layer::Layer as _;
use tower_service::Service;

use crate::clock::{ManualClock, SharedClock};
use crate::middleware::{SaveFailure, SessionService};
use crate::store::SharedStore;
use crate::{Data, LazySession, Session, SessionConfig, SessionLayer, Storage, ValueError};

/// The secret key of the lifecycle cases' layer.
pub(crate) const SECRET: &str = "conformance-suite-secret-key-0123456789";

/// The routes the lifecycle cases use, behind a session layer over one store.
pub(crate) type App = SessionService<Routes>;

/// The app over `store`, its layer judging expiry by `clock` if the harness has one.
pub(crate) fn app(store: SharedStore, clock: Option<&ManualClock>) -> App {
    // The layer speaks the store's format (a store opened for a profile refuses any other).
    // The settings the cases assume are pinned, whatever the profile's defaults: the cookie
    // `session` with a signed id (which Django's bare-key cookie ignores), no refresh on read,
    // and the default policy the harnesses open their stores with.
    let policy = crate::ExpiryPolicy::default();
    let mut config = SessionConfig::builder()
        .secret_key(SECRET)
        .profile(store.profile())
        .cookie_name("session")
        .sign_id(true)
        .refresh_each_request(false)
        .lifetime(policy.lifetime())
        .permanent(policy.permanent_by_default());
    if let Some(clock) = clock {
        config = config.clock(Arc::new(clock.clone()) as SharedClock);
    }
    let config = config.build().expect("the suite's session configuration");
    let layer = SessionLayer::new(Storage::Store(store), config).expect("the suite's layer");
    layer.layer(Routes)
}

/// `/put/{key}/{value}`, `/all` (the data as JSON), `/login/{user}` (new id, then `user`),
/// `/update/{key}` and `/get-then-insert/{key}` (increments), `/flush`, `/untouched`,
/// which never loads the session, and the per-user routes: `/signin/{user}` (new id, then
/// `set_user`), `/whoami`, `/sessions`, `/revoke/{handle}`, `/revoke-others`,
/// `/revoke-all/{user}`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Routes;

type Body = Vec<u8>;

impl Service<Request<()>> for Routes {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<()>) -> Self::Future {
        Box::pin(async move { Ok(route(req).await) })
    }
}

async fn route(req: Request<()>) -> Response<Body> {
    let path: Vec<String> = req
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect();
    if path == ["untouched"] {
        return respond(StatusCode::OK, "no session");
    }
    // As the axum extractor answers: no layer is the server's fault, a failing store a 503.
    let Some(lazy) = req.extensions().get::<LazySession>() else {
        return respond(StatusCode::INTERNAL_SERVER_ERROR, "no session layer");
    };
    let session = match lazy.load(req.headers()).await {
        Ok(session) => session,
        Err(error) => return respond(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
    };
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let outcome = match path[..] {
        ["put", key, value] => session.insert(key, value).map(|()| String::new()),
        ["all"] => Ok(serde_json::to_string(&*session.data()).expect("session data is JSON")),
        ["login", user] => {
            session.cycle_id();
            session.insert("user", user).map(|()| String::new())
        }
        ["update", key] => session
            .update(key, |n: Option<u64>| n.unwrap_or(0) + 1)
            .map(|n| n.to_string()),
        ["get-then-insert", key] => get_then_insert(&session, key),
        ["flush"] => {
            session.flush();
            Ok(String::new())
        }
        ["signin", user] => {
            session.cycle_id();
            session.set_user(user);
            Ok(String::new())
        }
        ["whoami"] => Ok(session.user().unwrap_or_default()),
        ["sessions" | "revoke" | "revoke-others" | "revoke-all", ..] => {
            return per_user(lazy, &session, &path).await
        }
        _ => return respond(StatusCode::NOT_FOUND, "no such route"),
    };
    match outcome {
        Ok(body) => respond(StatusCode::OK, body),
        Err(error) => respond(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
    }
}

/// `/sessions` (the caller's, as JSON), `/revoke/{handle}` (`404` if not the caller's),
/// `/revoke-others`, `/revoke-all/{user}` (the count); a storage without an index answers
/// `501` with the refusal.
async fn per_user(lazy: &LazySession, session: &Session, path: &[&str]) -> Response<Body> {
    let users = lazy.inner.shared.users();
    let done = match path {
        ["sessions"] => users
            .sessions_of(session)
            .await
            .map(|list| serde_json::to_string(&list).expect("sessions are JSON")),
        ["revoke", handle] => {
            let Ok(handle) = handle.parse() else {
                return respond(StatusCode::NOT_FOUND, "not a handle");
            };
            let user = session.user().unwrap_or_default();
            match users.revoke(&user, &handle).await {
                Ok(false) => return respond(StatusCode::NOT_FOUND, "no such session"),
                other => other.map(|_| String::new()),
            }
        }
        ["revoke-others"] => users.revoke_others(session).await.map(|n| n.to_string()),
        ["revoke-all", user] => users.revoke_all(user).await.map(|n| n.to_string()),
        _ => return respond(StatusCode::NOT_FOUND, "no such route"),
    };
    match done {
        Ok(body) => respond(StatusCode::OK, body),
        Err(error @ crate::store::Error::Unsupported { .. }) => {
            respond(StatusCode::NOT_IMPLEMENTED, error.to_string())
        }
        Err(error) => respond(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
    }
}

/// An increment that reads first: stale if another request changed the key meanwhile.
fn get_then_insert(session: &Session, key: &str) -> Result<String, ValueError> {
    let n: u64 = session.get_or_default(key)?;
    session.insert(key, n + 1)?;
    Ok((n + 1).to_string())
}

fn respond(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut response = Response::new(body.into().into_bytes());
    *response.status_mut() = status;
    response
}

/// A response, reduced to what the cases check.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) set_cookie: Vec<String>,
    pub(crate) vary: Vec<String>,
    pub(crate) body: Vec<u8>,
    /// Why the layer replaced the response, if a save failed.
    #[allow(
        dead_code,
        reason = "read through Debug, in the cases' failure messages"
    )]
    pub(crate) failure: Option<String>,
}

impl Reply {
    /// The `name=value` of the first `Set-Cookie`, if it sets (not removes) the cookie.
    pub(crate) fn cookie(&self) -> Option<String> {
        self.set_cookie.first().and_then(|c| {
            let pair = c.split(';').next()?.to_owned();
            (!pair.ends_with('=')).then_some(pair)
        })
    }

    /// [`cookie`](Self::cookie), or a failure naming the reply.
    pub(crate) fn expect_cookie(&self) -> String {
        self.cookie()
            .unwrap_or_else(|| panic!("the response sets no session cookie: {self:?}"))
    }

    pub(crate) fn removes_cookie(&self) -> bool {
        self.set_cookie
            .first()
            .is_some_and(|c| c.starts_with("session=;") && c.contains("Max-Age=0"))
    }

    /// The body of `/all`.
    pub(crate) fn data(&self) -> Data {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("not the session's data ({error}): {self:?}"))
    }
}

/// Sends one request; `cookie` is a `name=value` pair.
pub(crate) async fn send(app: &App, uri: &str, cookie: Option<&str>) -> Reply {
    let mut req = Request::get(uri);
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    let req = req.body(()).expect("a valid request");
    let mut app = app.clone();
    let ready = poll_fn(|cx| app.poll_ready(cx)).await;
    let Ok(()) = ready;
    let Ok(res) = app.call(req).await;
    let header = |name| {
        res.headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().expect("an ASCII header").to_owned())
            .collect::<Vec<_>>()
    };
    Reply {
        status: res.status(),
        set_cookie: header(SET_COOKIE),
        vary: header(VARY),
        failure: res
            .extensions()
            .get::<SaveFailure>()
            .map(|failure| failure.error().to_string()),
        body: res.into_body(),
    }
}
