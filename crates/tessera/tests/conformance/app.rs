//! A small app over the middleware, driven in-process.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use http::header::{COOKIE, SET_COOKIE};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tessera::clock::{Clock, SharedClock};
use tessera::store::SharedStore;
use tessera::{Data, Session, SessionConfig, SessionLayer, Storage};
use tower::ServiceExt;

pub const SECRET: &str = "conformance-suite-secret-key-0123456789";

/// The routes the lifecycle cases use.
pub fn app(store: SharedStore, clock: Option<SharedClock>) -> Router {
    // Failures name their cause in the test's output.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "tessera=warn".into()))
        .try_init();
    // The layer speaks the store's format (a store opened for a profile refuses any other).
    let mut config = SessionConfig::builder()
        .secret_key(SECRET)
        .profile(store.profile());
    if let Some(clock) = clock {
        config = config.clock(clock);
    }
    let layer = SessionLayer::new(Storage::Store(store), config.build().unwrap()).unwrap();
    Router::new()
        .route(
            "/put/{key}/{value}",
            get(
                |s: Session, Path((k, v)): Path<(String, String)>| async move {
                    s.insert(&k, v).unwrap();
                },
            ),
        )
        .route(
            "/all",
            get(|s: Session| async move { Json(s.data().as_ref().clone()) }),
        )
        .route(
            "/login/{user}",
            get(|s: Session, Path(user): Path<String>| async move {
                s.cycle_id();
                s.insert("user", user).unwrap();
            }),
        )
        .route(
            "/update/{key}",
            get(|s: Session, Path(key): Path<String>| async move {
                s.update(&key, |n: Option<u64>| n.unwrap_or(0) + 1)
                    .map(|n| n.to_string())
            }),
        )
        .route(
            "/get-then-insert/{key}",
            get(|s: Session, Path(key): Path<String>| async move {
                let n: u64 = s.get_or_default(&key)?;
                s.insert(&key, n + 1)?;
                Ok::<_, tessera::ValueError>((n + 1).to_string())
            }),
        )
        .route("/flush", get(|s: Session| async move { s.flush() }))
        .route("/untouched", get(|| async { "no session" }))
        .layer(layer)
}

/// A response, reduced to what the cases check.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub set_cookie: Vec<String>,
    pub vary: Vec<String>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The `name=value` of the first `Set-Cookie`, if it sets (not removes) the cookie.
    pub fn cookie(&self) -> Option<String> {
        self.set_cookie.first().and_then(|c| {
            let pair = c.split(';').next()?.to_owned();
            (!pair.ends_with('=')).then_some(pair)
        })
    }

    pub fn removes_cookie(&self) -> bool {
        self.set_cookie
            .first()
            .is_some_and(|c| c.starts_with("session=;") && c.contains("Max-Age=0"))
    }

    pub fn data(&self) -> Data {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Sends one request; `cookie` is a `name=value` pair.
pub async fn send(app: &Router, uri: &str, cookie: Option<&str>) -> Reply {
    let mut req = Request::get(uri);
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = res.into_parts();
    let header = |name| {
        parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let set_cookie = header(SET_COOKIE);
    let vary = header(http::header::VARY);
    let status = parts.status;
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    Reply {
        status,
        set_cookie,
        vary,
        body,
    }
}

/// The shared clock, type-erased, if the harness has one.
pub fn shared_clock(clock: &Option<tessera::clock::ManualClock>) -> Option<SharedClock> {
    clock.clone().map(|c| Arc::new(c) as Arc<dyn Clock>)
}
