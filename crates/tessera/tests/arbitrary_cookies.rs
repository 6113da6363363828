//! Arbitrary bytes as the session cookie, through the whole middleware, for every storage:
//! always a fresh session and a 200, never a panic.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::header::COOKIE;
use http::{HeaderValue, Request};
use proptest::prelude::*;
use tessera::cookie_session::CookieFormat;
use tessera::store::memory::MemoryStore;
use tessera::{Session, SessionConfig, SessionLayer, Storage};
use tower::ServiceExt;

fn apps() -> Vec<Router> {
    let storages = [
        Storage::Cookie(CookieFormat::Signed),
        Storage::Cookie(CookieFormat::Encrypted),
        Storage::store(MemoryStore::new(100)),
    ];
    let mut apps = Vec::new();
    for storage in storages {
        for (sign_id, compress) in [(true, false), (false, true)] {
            let config = SessionConfig::builder()
                .secret_key("arbitrary-cookie-test-key-0123456789abcdef")
                .sign_id(sign_id)
                .compress(compress)
                .build()
                .unwrap();
            apps.push(
                Router::new()
                    .route("/", get(|s: Session| async move { s.len().to_string() }))
                    .route(
                        "/put",
                        get(|s: Session| async move {
                            s.insert("k", "v").unwrap();
                        }),
                    )
                    .layer(SessionLayer::new(storage.clone(), config).unwrap()),
            );
        }
    }
    apps
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_cookie_values_give_a_fresh_session(
        bytes in proptest::collection::vec(prop_oneof![0x21u8..=0x7e, 0x80u8..=0xff, Just(b' '), Just(b'.')], 0..5000),
        dotted in any::<bool>(),
    ) {
        let mut value = bytes.clone();
        if dotted {
            // Shape it like a signed value so it reaches the MAC check and beyond.
            value.push(b'.');
            value.extend(std::iter::repeat_n(b'A', 43));
        }
        let mut header = b"session=".to_vec();
        header.extend_from_slice(&value);
        let header = HeaderValue::from_bytes(&header).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            for app in apps() {
                let req = Request::get("/").header(COOKIE, header.clone()).body(Body::empty()).unwrap();
                let res = app.oneshot(req).await.unwrap();
                assert_eq!(res.status(), 200);
            }
        });
    }
}

fn real_cookie(app: &Router, rt: &tokio::runtime::Runtime) -> Option<String> {
    rt.block_on(async {
        let res = app
            .clone()
            .oneshot(Request::get("/put").body(Body::empty()).unwrap())
            .await
            .unwrap();
        res.headers()
            .get(http::header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn damaged_real_cookies_give_a_fresh_session(cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(), byte in 0x21u8..=0x7e) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for app in apps() {
            let cookie = real_cookie(&app, &rt).expect("a cookie was set");
            let mut damaged = cookie.clone().into_bytes();
            let at = "session=".len() + flip.index(damaged.len() - "session=".len());
            if damaged[at] == byte { continue; }
            damaged[at] = byte;
            let truncated = &cookie[..("session=".len() + cut.index(cookie.len() - "session=".len()))];
            for bad in [String::from_utf8(damaged).unwrap(), truncated.to_owned()] {
                let req = Request::get("/").header(COOKIE, bad.as_str()).body(Body::empty()).unwrap();
                let res = rt.block_on(app.clone().oneshot(req)).unwrap();
                prop_assert_eq!(res.status(), 200);
                let body = rt.block_on(http_body_util::BodyExt::collect(res.into_body())).unwrap().to_bytes();
                prop_assert_eq!(&body[..], b"0", "damaged cookie {} was accepted", bad);
            }
        }
    }
}
