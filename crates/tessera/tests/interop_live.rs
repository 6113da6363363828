//! tessera and real Flask and Django apps sharing sessions over HTTP, in both directions.
//! The Python apps are started by `scripts/services/python-interop.sh`.
#![cfg(feature = "conformance")]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{json, Value};
use tessera::clock::ManualClock;
use tessera::config::SessionConfigBuilder;
use tessera::cookie_session::CookieFormat;
use tessera::{Expiry, Profile, Session, SessionConfig, SessionLayer, Storage};
use time::{Duration, OffsetDateTime};

use tessera::conformance::server_or_skip;

const KEY: &str = "interop-live-secret-key-0123456789abcdef";
const OLD_KEY: &str = "interop-live-older-key-0123456789abcdef";

fn flask_url() -> String {
    std::env::var("TESSERA_FLASK_URL").unwrap_or_else(|_| "http://127.0.0.1:5101".into())
}

fn django_url() -> String {
    std::env::var("TESSERA_DJANGO_URL").unwrap_or_else(|_| "http://127.0.0.1:5102".into())
}

async fn python(url: &str, what: &str) -> Option<String> {
    let health = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("{url}/health"))
        .send()
        .await;
    server_or_skip(what, health.and_then(reqwest::Response::error_for_status))?;
    Some(url.to_owned())
}

fn routes() -> Router {
    Router::new()
        .route(
            "/all",
            get(|s: Session| async move {
                Json(json!({"data": s.data().as_ref(), "permanent": s.is_permanent(), "browser_close": s.expires_at_browser_close(), "expiry": s.expiry()}))
            }),
        )
        .route(
            "/put/{key}/{value}",
            get(|s: Session, Path((k, v)): Path<(String, String)>| async move {
                s.insert(&k, v).unwrap();
            }),
        )
        .route(
            "/login/{user}",
            get(|s: Session, Path(user): Path<String>| async move {
                s.insert("user", user).unwrap();
                s.set_permanent(true);
            }),
        )
        .route("/flush", get(|s: Session| async move { s.flush() }))
        .route(
            "/expiry/{seconds}",
            get(|s: Session, Path(secs): Path<i64>| async move {
                s.set_expiry(Expiry::from_seconds(secs));
                s.insert("x", 1).unwrap();
            }),
        )
}

/// Serves `config` on a free port; returns the base URL.
async fn tessera(config: SessionConfigBuilder) -> String {
    serve(
        Storage::Cookie(CookieFormat::Signed),
        config.build().unwrap(),
    )
    .await
}

/// Serves `config` over `storage` on a free port; returns the base URL.
async fn serve(storage: Storage, config: SessionConfig) -> String {
    let layer = SessionLayer::new(storage, config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, routes().layer(layer)).await.unwrap() });
    format!("http://{addr}")
}

fn flask_config() -> SessionConfigBuilder {
    SessionConfig::builder()
        .secret_key(KEY)
        .fallback_key(OLD_KEY)
        .profile(Profile::Flask)
        .permanent(false)
        .lifetime(Duration::seconds(3600))
}

fn django_config() -> SessionConfigBuilder {
    SessionConfig::builder()
        .secret_key(KEY)
        .fallback_key(OLD_KEY)
        .profile(Profile::Django)
        .cookie_name("sessionid")
        .lifetime(Duration::seconds(3600))
}

/// GETs `url` with `cookie` (`name=value`); returns the JSON body and the new cookie pair.
async fn call(url: &str, cookie: Option<&str>) -> (Value, Option<String>) {
    // A Python app that stops answering fails the test instead of hanging it.
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let mut req = client.get(url);
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    let res = req.send().await.unwrap();
    assert!(res.status().is_success(), "{url}: {}", res.status());
    let cookie = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| {
            v.to_str()
                .unwrap()
                .trim()
                .split(';')
                .next()
                .unwrap()
                .to_owned()
        })
        .next()
        .filter(|c| !c.ends_with('='));
    let body = res.text().await.unwrap();
    (serde_json::from_str(&body).unwrap_or(Value::Null), cookie)
}

fn tamper(cookie: &str) -> String {
    let mut bytes = cookie.as_bytes().to_vec();
    let at = bytes.len() - 3;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn flask_login_crosses_both_ways() {
    let Some(flask) = python(&flask_url(), "the Flask interop app").await else {
        return;
    };
    let rust = tessera(flask_config()).await;

    let (_, cookie) = call(&format!("{flask}/login/ada"), None).await;
    let (seen, _) = call(&format!("{rust}/all"), Some(&cookie.unwrap())).await;
    assert_eq!(seen["data"], json!({"user": "ada"}));
    assert_eq!(seen["permanent"], json!(true));

    let (_, cookie) = call(&format!("{rust}/login/grace"), None).await;
    let (seen, _) = call(&format!("{flask}/get"), Some(&cookie.unwrap())).await;
    assert_eq!(seen["data"], json!({"user": "grace"}));
    assert_eq!(seen["permanent"], json!(true));

    let (_, cookie) = call(&format!("{rust}/put/k/v"), None).await;
    let (seen, _) = call(&format!("{flask}/get"), Some(&cookie.unwrap())).await;
    assert_eq!(seen["data"], json!({"k": "v"}));
    assert_eq!(seen["permanent"], json!(false));
}

#[tokio::test]
async fn flask_python_types_survive_a_tessera_write() {
    let Some(flask) = python(&flask_url(), "the Flask interop app").await else {
        return;
    };
    let rust = tessera(flask_config()).await;
    let (_, cookie) = call(&format!("{flask}/types"), None).await;
    let (_, rewritten) = call(&format!("{rust}/put/extra/1"), Some(&cookie.unwrap())).await;
    let (seen, _) = call(&format!("{flask}/get"), Some(&rewritten.unwrap())).await;
    assert_eq!(
        seen["types"],
        json!({"bytes": "bytes", "extra": "str", "tuple": "tuple", "uuid": "UUID", "when": "datetime"})
    );
}

#[tokio::test]
async fn flask_and_tessera_refuse_tampering_and_agree_on_expiry() {
    let Some(flask) = python(&flask_url(), "the Flask interop app").await else {
        return;
    };
    let rust = tessera(flask_config()).await;
    let (_, python_cookie) = call(&format!("{flask}/set/a/1"), None).await;
    let (seen, _) = call(
        &format!("{rust}/all"),
        Some(&tamper(&python_cookie.unwrap())),
    )
    .await;
    assert_eq!(seen["data"], json!({}));
    let (_, rust_cookie) = call(&format!("{rust}/put/a/1"), None).await;
    let (seen, _) = call(
        &format!("{flask}/get"),
        Some(&tamper(&rust_cookie.unwrap())),
    )
    .await;
    assert_eq!(seen["data"], json!({}));

    // Signed just inside and just outside the one-hour lifetime, by a clock set back.
    for (ago, accepted) in [(3600 - 120, true), (3600 + 120, false)] {
        let clock = ManualClock::new(OffsetDateTime::now_utc() - Duration::seconds(ago));
        let old = tessera(flask_config().clock(Arc::new(clock))).await;
        let (_, cookie) = call(&format!("{old}/put/a/1"), None).await;
        let cookie = cookie.unwrap();
        let (by_flask, _) = call(&format!("{flask}/get"), Some(&cookie)).await;
        let (by_rust, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
        let expected = if accepted {
            json!({"a": "1"})
        } else {
            json!({})
        };
        assert_eq!(by_flask["data"], expected, "Flask, signed {ago}s ago");
        assert_eq!(by_rust["data"], expected, "tessera, signed {ago}s ago");
    }
}

#[tokio::test]
async fn flask_accepts_tessera_cookies_signed_with_a_fallback_key() {
    let Some(flask) = python(&flask_url(), "the Flask interop app").await else {
        return;
    };
    let retired = tessera(flask_config().secret_key(OLD_KEY)).await;
    let (_, cookie) = call(&format!("{retired}/put/a/1"), None).await;
    let (seen, _) = call(&format!("{flask}/get"), Some(&cookie.unwrap())).await;
    assert_eq!(seen["data"], json!({"a": "1"}));
}

#[tokio::test]
async fn django_session_crosses_both_ways() {
    let Some(django) = python(&django_url(), "the Django interop app").await else {
        return;
    };
    let rust = tessera(django_config()).await;

    let (_, cookie) = call(&format!("{django}/set/user/ada"), None).await;
    let (seen, _) = call(&format!("{rust}/all"), Some(&cookie.unwrap())).await;
    assert_eq!(seen["data"], json!({"user": "ada"}));

    let (_, cookie) = call(&format!("{rust}/put/user/grace"), None).await;
    let cookie = cookie.unwrap();
    assert!(cookie.starts_with("sessionid="));
    let (seen, _) = call(&format!("{django}/get"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({"user": "grace"}));
    assert_eq!(seen["expiry_age"], json!(3600));
}

#[tokio::test]
async fn django_set_expiry_agrees() {
    let Some(django) = python(&django_url(), "the Django interop app").await else {
        return;
    };
    let rust = tessera(django_config()).await;
    for (seconds, browser_close) in [(0, true), (300, false)] {
        let (_, cookie) = call(&format!("{rust}/expiry/{seconds}"), None).await;
        let (seen, _) = call(&format!("{django}/get"), Some(&cookie.unwrap())).await;
        assert_eq!(seen["browser_close"], json!(browser_close), "{seconds}");
        if seconds > 0 {
            assert_eq!(seen["expiry_age"], json!(seconds));
        }
        let (_, cookie) = call(&format!("{django}/expiry/{seconds}"), None).await;
        let (seen, _) = call(&format!("{rust}/all"), Some(&cookie.unwrap())).await;
        assert_eq!(seen["browser_close"], json!(browser_close), "{seconds}");
        assert_eq!(
            seen["expiry"],
            serde_json::to_value(Expiry::from_seconds(seconds)).unwrap()
        );
    }
}

#[tokio::test]
async fn django_and_tessera_refuse_tampering_and_agree_on_expiry() {
    let Some(django) = python(&django_url(), "the Django interop app").await else {
        return;
    };
    let rust = tessera(django_config()).await;
    let (_, python_cookie) = call(&format!("{django}/set/a/1"), None).await;
    let (seen, _) = call(
        &format!("{rust}/all"),
        Some(&tamper(&python_cookie.unwrap())),
    )
    .await;
    assert_eq!(seen["data"], json!({}));
    let (_, rust_cookie) = call(&format!("{rust}/put/a/1"), None).await;
    let (seen, _) = call(
        &format!("{django}/get"),
        Some(&tamper(&rust_cookie.unwrap())),
    )
    .await;
    assert_eq!(seen["data"], json!({}));

    for (ago, accepted) in [(3600 - 120, true), (3600 + 120, false)] {
        let clock = ManualClock::new(OffsetDateTime::now_utc() - Duration::seconds(ago));
        let old = tessera(django_config().clock(Arc::new(clock))).await;
        let (_, cookie) = call(&format!("{old}/put/a/1"), None).await;
        let cookie = cookie.unwrap();
        let (by_django, _) = call(&format!("{django}/get"), Some(&cookie)).await;
        let (by_rust, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
        let expected = if accepted {
            json!({"a": "1"})
        } else {
            json!({})
        };
        assert_eq!(by_django["data"], expected, "Django, signed {ago}s ago");
        assert_eq!(by_rust["data"], expected, "tessera, signed {ago}s ago");
    }
}

/// The Flask-Session app on `backend` and a tessera app on the same server, in its layout.
async fn flask_session_pair(backend: &str) -> Option<(String, String)> {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let (python, store) = match backend {
        "redis" => (
            env("TESSERA_FLASK_SESSION_URL", "http://127.0.0.1:5103"),
            env("TESSERA_REDIS_URL", "redis://127.0.0.1:6379"),
        ),
        _ => (
            env(
                "TESSERA_FLASK_SESSION_MEMCACHED_URL",
                "http://127.0.0.1:5104",
            ),
            env("TESSERA_MEMCACHED_URL", "memcached://127.0.0.1:11211"),
        ),
    };
    let python = self::python(&python, &format!("the Flask-Session app on {backend}")).await?;
    // These Flask apps set SESSION_USE_SIGNER=True, which is not Flask-Session's default.
    let config = SessionConfig::builder()
        .secret_key(KEY)
        .profile(Profile::FlaskSession)
        .url(store)
        .sign_id(true)
        .key_prefix("tessera-interop:")
        .lifetime(Duration::seconds(3600))
        .build()
        .unwrap();
    let storage = Storage::from_config(&config).await.unwrap();
    Some((python, serve(storage, config).await))
}

async fn flask_session_shares_logins_both_ways(backend: &str) {
    let Some((python, rust)) = flask_session_pair(backend).await else {
        return;
    };

    let (_, cookie) = call(&format!("{python}/login/ada"), None).await;
    let cookie = cookie.unwrap();
    let (seen, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({"user": "ada"}));
    assert_eq!(seen["permanent"], json!(true));
    let (_, _) = call(&format!("{python}/logout"), Some(&cookie)).await;

    let (_, cookie) = call(&format!("{rust}/put/user/grace"), None).await;
    let cookie = cookie.unwrap();
    let (seen, _) = call(&format!("{python}/get"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({"user": "grace"}));
    assert_eq!(seen["permanent"], json!(true));

    // A write on each side is seen by the other, on the same record.
    let (_, _) = call(&format!("{python}/set/n/1"), Some(&cookie)).await;
    let (_, _) = call(&format!("{rust}/put/m/2"), Some(&cookie)).await;
    let (seen, _) = call(&format!("{python}/get"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({"user": "grace", "n": "1", "m": "2"}));

    // A logout on either side ends the session for both.
    let (_, _) = call(&format!("{rust}/flush"), Some(&cookie)).await;
    let (seen, _) = call(&format!("{python}/get"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({}));
    let (_, cookie) = call(&format!("{python}/login/ada"), None).await;
    let cookie = cookie.unwrap();
    let (_, _) = call(&format!("{python}/logout"), Some(&cookie)).await;
    let (seen, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({}));
}

async fn flask_session_values_survive_a_tessera_write(backend: &str) {
    let Some((python, rust)) = flask_session_pair(backend).await else {
        return;
    };
    let (_, cookie) = call(&format!("{python}/types"), None).await;
    let cookie = cookie.unwrap();
    let (before, _) = call(&format!("{python}/get"), Some(&cookie)).await;
    let (_, _) = call(&format!("{rust}/put/extra/1"), Some(&cookie)).await;
    let (after, _) = call(&format!("{python}/get"), Some(&cookie)).await;
    let mut expected = before["types"].clone();
    expected["extra"] = json!("str");
    assert_eq!(
        after["types"], expected,
        "msgpack bytes and datetimes keep their types"
    );
    assert_eq!(after["types"]["bytes"], json!("bytes"));
    assert_eq!(after["types"]["when"], json!("datetime"));
    let (_, _) = call(&format!("{python}/logout"), Some(&cookie)).await;
}

async fn flask_session_ids_are_signed_alike_and_tampering_is_refused(backend: &str) {
    let Some((python, rust)) = flask_session_pair(backend).await else {
        return;
    };
    let (_, python_cookie) = call(&format!("{python}/set/a/1"), None).await;
    let python_cookie = python_cookie.unwrap();
    let (seen, _) = call(&format!("{rust}/all"), Some(&tamper(&python_cookie))).await;
    assert_eq!(seen["data"], json!({}));
    let (_, rust_cookie) = call(&format!("{rust}/put/a/1"), None).await;
    let rust_cookie = rust_cookie.unwrap();
    let (seen, _) = call(&format!("{python}/get"), Some(&tamper(&rust_cookie))).await;
    assert_eq!(seen["data"], json!({}));
    // Untampered, each side reads the other's.
    let (seen, _) = call(&format!("{rust}/all"), Some(&python_cookie)).await;
    assert_eq!(seen["data"], json!({"a": "1"}));
    let (seen, _) = call(&format!("{python}/get"), Some(&rust_cookie)).await;
    assert_eq!(seen["data"], json!({"a": "1"}));
    for cookie in [python_cookie, rust_cookie] {
        let (_, _) = call(&format!("{python}/logout"), Some(&cookie)).await;
    }
}

/// A Flask app with Flask-Session's defaults (`SESSION_TYPE="redis"` and nothing else) and
/// tessera with `SESSION_PROFILE=flask-session`, the same secret and store, and nothing else:
/// the two share sessions without a single other setting.
#[cfg(feature = "redis")]
#[tokio::test]
async fn flask_session_defaults_match_with_no_other_setting() {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let python = env(
        "TESSERA_FLASK_SESSION_DEFAULTS_URL",
        "http://127.0.0.1:5105",
    );
    let Some(python) = self::python(&python, "the Flask-Session app with its defaults").await
    else {
        return;
    };
    let vars = [
        ("SECRET_KEY", KEY.to_owned()),
        ("SESSION_PROFILE", "flask-session".to_owned()),
        (
            "SESSION_URL",
            env("TESSERA_REDIS_URL", "redis://127.0.0.1:6379"),
        ),
    ];
    let config = SessionConfigBuilder::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
    .build()
    .unwrap();
    let storage = Storage::from_config(&config).await.unwrap();
    let rust = serve(storage, config).await;

    let (_, cookie) = call(&format!("{python}/login/ada"), None).await;
    let cookie = cookie.unwrap();
    let id = cookie.split_once('=').unwrap().1;
    assert!(
        !id.contains('.'),
        "Flask-Session's default cookie is the bare id: {cookie}"
    );
    let (seen, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
    assert_eq!(
        seen["data"],
        json!({"user": "ada"}),
        "tessera sees Flask's login"
    );
    assert_eq!(seen["permanent"], json!(true));

    let (_, cookie) = call(&format!("{rust}/put/user/grace"), None).await;
    let cookie = cookie.unwrap();
    let (seen, _) = call(&format!("{python}/get"), Some(&cookie)).await;
    assert_eq!(
        seen["data"],
        json!({"user": "grace"}),
        "Flask sees tessera's session"
    );
    assert_eq!(seen["permanent"], json!(true));
    let (_, _) = call(&format!("{rust}/flush"), Some(&cookie)).await;
    let (seen, _) = call(&format!("{python}/get"), Some(&cookie)).await;
    assert_eq!(
        seen["data"],
        json!({}),
        "a tessera logout ends it for Flask"
    );
}

/// One test per Flask-Session backend the `flask-session` profile covers.
macro_rules! flask_session_tests {
    ($($backend:literal, $feature:literal => [$($case:ident as $name:ident),*];)*) => {$($(
        #[cfg(feature = $feature)]
        #[tokio::test]
        async fn $name() {
            $case($backend).await;
        }
    )*)*};
}

flask_session_tests! {
    "redis", "redis" => [
        flask_session_shares_logins_both_ways as flask_session_on_redis_shares_logins_both_ways,
        flask_session_values_survive_a_tessera_write as flask_session_on_redis_values_survive_a_tessera_write,
        flask_session_ids_are_signed_alike_and_tampering_is_refused as flask_session_on_redis_refuses_tampering
    ];
    "memcached", "memcached" => [
        flask_session_shares_logins_both_ways as flask_session_on_memcached_shares_logins_both_ways,
        flask_session_values_survive_a_tessera_write as flask_session_on_memcached_values_survive_a_tessera_write,
        flask_session_ids_are_signed_alike_and_tampering_is_refused as flask_session_on_memcached_refuses_tampering
    ];
}
