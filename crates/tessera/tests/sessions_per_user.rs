//! Sessions per user through the layer, store-agnostic: idle and absolute timeouts by an
//! injected clock (server-side and cookie sessions), device recording, lifecycle events, the
//! refusal of cookie sessions, and the Python profiles' user key. The index on each store is
//! in the conformance suite (`per_user_*`, `user_index_*`).
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path};
use axum::routing::get;
use axum::{Json, Router};
use http::header::{COOKIE, SET_COOKIE};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tessera::clock::ManualClock;
use tessera::config::SessionConfigBuilder;
use tessera::events::SessionEvent;
use tessera::store::memory::MemoryStore;
use tessera::store::SharedStore;
use tessera::users::{UserSession, Users};
use tessera::{Profile, Session, SessionConfig, SessionLayer, Storage};
use time::macros::datetime;
use time::Duration;
use tower::ServiceExt;

const KEY: &str = "sessions-per-user-test-key-0123456789abcdef";

fn routes() -> Router {
    support::routes::put_and_all()
        .route(
            "/signin/{user}",
            get(|s: Session, Path(user): Path<String>| async move {
                s.cycle_id();
                s.set_user(user);
            }),
        )
        .route(
            "/whoami",
            get(|s: Session| async move { s.user().unwrap_or_default() }),
        )
        .route(
            "/sessions",
            get(|s: Session, users: Users| async move {
                match users.sessions_of(&s).await {
                    Ok(list) => Ok(Json(list)),
                    Err(e) => Err((StatusCode::NOT_IMPLEMENTED, e.to_string())),
                }
            }),
        )
        .route(
            "/revoke-others",
            get(|s: Session, users: Users| async move {
                users.revoke_others(&s).await.unwrap().to_string()
            }),
        )
        .route("/flush", get(|s: Session| async move { s.flush() }))
}

struct Reply {
    status: StatusCode,
    set_cookie: Option<String>,
    body: String,
}

async fn send(app: &Router, uri: &str, cookie: Option<&str>, headers: &[(&str, &str)]) -> Reply {
    let mut req = Request::get(uri);
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::empty()).unwrap();
    req.extensions_mut().insert(ConnectInfo(
        "198.51.100.7:50123".parse::<SocketAddr>().unwrap(),
    ));
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let set_cookie = res
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        set_cookie,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

struct Setup {
    app: Router,
    clock: ManualClock,
}

fn setup(config: SessionConfigBuilder) -> Setup {
    let clock = ManualClock::new(datetime!(2030-01-01 9:00 UTC));
    let shared: tessera::clock::SharedClock = Arc::new(clock.clone());
    let store: SharedStore = Arc::new(MemoryStore::new(1_000).with_clock(shared.clone()));
    let config = config.secret_key(KEY).clock(shared).build().unwrap();
    let layer = SessionLayer::new(Storage::Store(store), config).unwrap();
    Setup {
        app: routes().layer(layer),
        clock,
    }
}

async fn sign_in(app: &Router, user: &str) -> String {
    send(app, &format!("/signin/{user}"), None, &[])
        .await
        .set_cookie
        .unwrap()
}

async fn whoami(app: &Router, cookie: &str) -> String {
    send(app, "/whoami", Some(cookie), &[]).await.body
}

#[tokio::test]
async fn the_idle_timeout_ends_a_session_left_alone_and_activity_keeps_it() {
    let s = setup(
        SessionConfig::builder()
            .idle_timeout(Duration::minutes(30))
            .refresh_each_request(true),
    );
    let cookie = sign_in(&s.app, "ada").await;
    for _ in 0..6 {
        // Each read touches the session: 6 × 25 minutes of activity, 2.5 hours in all.
        s.clock.advance(Duration::minutes(25));
        assert_eq!(whoami(&s.app, &cookie).await, "ada");
    }
    s.clock.advance(Duration::minutes(31));
    assert_eq!(whoami(&s.app, &cookie).await, "", "31 idle minutes end it");
}

#[tokio::test]
async fn without_refresh_only_saves_count_as_activity() {
    let s = setup(SessionConfig::builder().idle_timeout(Duration::minutes(30)));
    let cookie = sign_in(&s.app, "ada").await;
    s.clock.advance(Duration::minutes(20));
    assert_eq!(whoami(&s.app, &cookie).await, "ada");
    s.clock.advance(Duration::minutes(11));
    assert_eq!(
        whoami(&s.app, &cookie).await,
        "",
        "a read alone moves nothing"
    );
}

#[tokio::test]
async fn the_absolute_timeout_ends_an_active_session_and_a_new_login_starts_anew() {
    let s = setup(
        SessionConfig::builder()
            .absolute_timeout(Duration::hours(2))
            .refresh_each_request(true),
    );
    let cookie = sign_in(&s.app, "ada").await;
    for _ in 0..7 {
        s.clock.advance(Duration::minutes(17));
        assert_eq!(
            send(&s.app, "/put/n/1", Some(&cookie), &[]).await.status,
            StatusCode::OK
        );
        assert_eq!(whoami(&s.app, &cookie).await, "ada");
    }
    // 119 minutes in; the next minute ends it, however active.
    s.clock.advance(Duration::minutes(1));
    let reply = send(&s.app, "/whoami", Some(&cookie), &[]).await;
    assert_eq!(reply.body, "", "two hours after login the session is over");
    // Signing in again (a new id) starts the two hours anew.
    let again = send(&s.app, "/signin/ada", Some(&cookie), &[])
        .await
        .set_cookie
        .unwrap();
    s.clock.advance(Duration::minutes(119));
    assert_eq!(whoami(&s.app, &again).await, "ada");
}

#[tokio::test]
async fn a_record_older_than_a_shortened_absolute_timeout_is_a_fresh_session() {
    // Saved without a limit, read under one: the record's start decides, not its deadline.
    let clock = ManualClock::new(datetime!(2030-01-01 9:00 UTC));
    let shared: tessera::clock::SharedClock = Arc::new(clock.clone());
    let store: SharedStore = Arc::new(MemoryStore::new(100).with_clock(shared.clone()));
    let layer = |absolute: Option<Duration>| {
        let mut b = SessionConfig::builder()
            .secret_key(KEY)
            .clock(shared.clone());
        if let Some(a) = absolute {
            b = b.absolute_timeout(a);
        }
        routes()
            .layer(SessionLayer::new(Storage::Store(store.clone()), b.build().unwrap()).unwrap())
    };
    let cookie = sign_in(&layer(None), "ada").await;
    clock.advance(Duration::hours(3));
    assert_eq!(whoami(&layer(None), &cookie).await, "ada");
    assert_eq!(whoami(&layer(Some(Duration::hours(2))), &cookie).await, "");
}

#[tokio::test]
async fn cookie_sessions_carry_their_start_and_refuse_per_user_calls() {
    let clock = ManualClock::new(datetime!(2030-01-01 9:00 UTC));
    for url in ["cookie", "cookie+encrypted"] {
        let config = SessionConfig::builder()
            .secret_key(KEY)
            .url(url)
            .absolute_timeout(Duration::hours(1))
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        let storage = Storage::from_config(&config).await.unwrap();
        let app = routes().layer(SessionLayer::new(storage, config).unwrap());
        let mut cookie = sign_in(&app, "ada").await;
        for _ in 0..5 {
            clock.advance(Duration::minutes(11));
            cookie = send(&app, "/put/n/1", Some(&cookie), &[])
                .await
                .set_cookie
                .unwrap();
            assert_eq!(whoami(&app, &cookie).await, "ada", "{url}");
        }
        clock.advance(Duration::minutes(6));
        assert_eq!(
            whoami(&app, &cookie).await,
            "",
            "{url}: the cookie's own start ends it"
        );
        let cookie = sign_in(&app, "ada").await;
        let refused = send(&app, "/sessions", Some(&cookie), &[]).await;
        assert_eq!(refused.status, StatusCode::NOT_IMPLEMENTED, "{url}");
        assert!(refused.body.contains("cookie sessions"), "{}", refused.body);
    }
}

#[tokio::test]
async fn devices_are_recorded_from_the_peer_or_the_trusted_proxy_header() {
    let s = setup(SessionConfig::builder().record_devices(true));
    let cookie = send(
        &s.app,
        "/signin/ada",
        None,
        &[("user-agent", "Firefox/130")],
    )
    .await
    .set_cookie
    .unwrap();
    let list: Vec<UserSession> =
        serde_json::from_str(&send(&s.app, "/sessions", Some(&cookie), &[]).await.body).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].user_agent.as_deref(), Some("Firefox/130"));
    assert_eq!(list[0].client.as_deref(), Some("198.51.100.7"));
    assert!(list[0].current);

    let proxied = setup(
        SessionConfig::builder()
            .record_devices(true)
            .client_ip_header(http::HeaderName::from_static("x-forwarded-for")),
    );
    let cookie = send(
        &proxied.app,
        "/signin/ada",
        None,
        &[("x-forwarded-for", "10.9.9.9, 203.0.113.5")],
    )
    .await
    .set_cookie
    .unwrap();
    let list: Vec<UserSession> = serde_json::from_str(
        &send(&proxied.app, "/sessions", Some(&cookie), &[])
            .await
            .body,
    )
    .unwrap();
    assert_eq!(list[0].client.as_deref(), Some("203.0.113.5"));

    let off = setup(SessionConfig::builder());
    let cookie = send(
        &off.app,
        "/signin/ada",
        None,
        &[("user-agent", "Firefox/130")],
    )
    .await
    .set_cookie
    .unwrap();
    let list: Vec<UserSession> =
        serde_json::from_str(&send(&off.app, "/sessions", Some(&cookie), &[]).await.body).unwrap();
    assert_eq!(
        (list[0].user_agent.as_deref(), list[0].client.as_deref()),
        (None, None)
    );
}

#[tokio::test]
async fn last_seen_moves_with_touches_a_minute_apart_only() {
    let s = setup(SessionConfig::builder().refresh_each_request(true));
    let cookie = sign_in(&s.app, "ada").await;
    let seen = |s: &Setup, cookie: String| {
        let app = s.app.clone();
        async move {
            let body = send(&app, "/sessions", Some(&cookie), &[]).await.body;
            let list: Vec<UserSession> = serde_json::from_str(&body).unwrap();
            list[0].last_seen.unwrap()
        }
    };
    let first = seen(&s, cookie.clone()).await;
    s.clock.advance(Duration::seconds(30));
    assert_eq!(
        seen(&s, cookie.clone()).await,
        first,
        "a touch within the minute is a touch"
    );
    s.clock.advance(Duration::seconds(31));
    whoami(&s.app, &cookie).await;
    assert_eq!(
        seen(&s, cookie.clone()).await,
        first + Duration::seconds(61)
    );
}

#[tokio::test]
async fn lifecycle_events_name_sessions_by_handle() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let clock = ManualClock::new(datetime!(2030-01-01 9:00 UTC));
    let shared: tessera::clock::SharedClock = Arc::new(clock.clone());
    let store: SharedStore = Arc::new(MemoryStore::new(100).with_clock(shared.clone()));
    let config = SessionConfig::builder()
        .secret_key(KEY)
        .clock(shared)
        .build()
        .unwrap();
    let seen = events.clone();
    let layer = SessionLayer::new(Storage::Store(store.clone()), config)
        .unwrap()
        .with_events(move |e: SessionEvent| seen.lock().unwrap().push(e));
    let users = layer.users();
    let app = routes().layer(layer);
    let first = send(&app, "/put/a/1", None, &[]).await.set_cookie.unwrap();
    let signed = send(&app, "/signin/ada", Some(&first), &[])
        .await
        .set_cookie
        .unwrap();
    let other = sign_in(&app, "ada").await;
    assert_eq!(
        send(&app, "/flush", Some(&signed), &[]).await.status,
        StatusCode::OK
    );
    assert_eq!(users.revoke_all("ada").await.unwrap(), 1);
    let handle = |c: &str| {
        let v = c.split_once('=').unwrap().1;
        tessera::id::SessionHandle::of(
            &tessera::SessionId::parse(v.rsplit_once('.').unwrap().0).unwrap(),
        )
    };
    let got = events.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![
            SessionEvent::Created {
                session: handle(&first),
                user: None
            },
            SessionEvent::Cycled {
                from: handle(&first),
                to: handle(&signed),
                user: Some("ada".into())
            },
            SessionEvent::Created {
                session: handle(&other),
                user: Some("ada".into())
            },
            SessionEvent::Flushed {
                session: handle(&signed),
                user: Some("ada".into())
            },
            SessionEvent::Revoked {
                session: handle(&other),
                user: "ada".into()
            },
        ]
    );
    let text = format!("{got:?}");
    for c in [&first, &signed, &other] {
        assert!(
            !text.contains(c.split_once('=').unwrap().1.split('.').next().unwrap()),
            "an event shows no id"
        );
    }
}

#[tokio::test]
async fn a_save_retried_after_another_servers_write_is_an_event() {
    // Two layers over one store (two app servers). A request on A waits inside its handler
    // until B has saved the same session: A's save then conflicts and is retried.
    let events = Arc::new(Mutex::new(Vec::new()));
    let store: SharedStore = Arc::new(MemoryStore::new(100));
    let layer = |store: &SharedStore| {
        let config = SessionConfig::builder().secret_key(KEY).build().unwrap();
        SessionLayer::new(Storage::Store(store.clone()), config).unwrap()
    };
    let seen = events.clone();
    let gate = Arc::new(tokio::sync::Notify::new());
    let entered = Arc::new(tokio::sync::Notify::new());
    let (g, e) = (gate.clone(), entered.clone());
    let a = Router::new()
        .route(
            "/slow",
            get(move |s: Session| {
                let (g, e) = (g.clone(), e.clone());
                async move {
                    s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).unwrap();
                    e.notify_one();
                    g.notified().await;
                }
            }),
        )
        .layer(layer(&store).with_events(move |ev: SessionEvent| seen.lock().unwrap().push(ev)));
    let b = routes()
        .route(
            "/inc",
            get(|s: Session| async move {
                s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1)
                    .unwrap()
                    .to_string()
            }),
        )
        .layer(layer(&store));
    let cookie = send(&b, "/put/x/1", None, &[]).await.set_cookie.unwrap();
    let slow = {
        let (a, cookie) = (a.clone(), cookie.clone());
        tokio::spawn(async move { send(&a, "/slow", Some(&cookie), &[]).await.status })
    };
    entered.notified().await;
    assert_eq!(
        send(&b, "/inc", Some(&cookie), &[]).await.status,
        StatusCode::OK
    );
    gate.notify_one();
    assert_eq!(slow.await.unwrap(), StatusCode::OK);
    assert_eq!(
        send(&b, "/all", Some(&cookie), &[]).await.body,
        r#"{"n":2,"x":"1"}"#
    );
    let got = events.lock().unwrap().clone();
    assert!(
        matches!(
            got.as_slice(),
            [SessionEvent::Retried {
                attempts: 2,
                saved: true,
                ..
            }]
        ),
        "{got:?}"
    );
}

#[tokio::test]
async fn the_python_profiles_keep_the_user_where_their_framework_does() {
    for (profile, key, devices) in [
        (Profile::Django, "_auth_user_id", false),
        (Profile::Django, "_auth_user_id", true),
        (Profile::FlaskSession, "_user_id", false),
        (Profile::FlaskSession, "_user_id", true),
    ] {
        // Each framework's own file layout, which keeps an index too.
        let dir = support::ScratchDir::new("per-user");
        let config = SessionConfig::builder()
            .secret_key(KEY)
            .profile(profile)
            .cookie_name("session")
            .record_devices(devices)
            .url(dir.url())
            .build()
            .unwrap();
        let storage = Storage::from_config(&config).await.unwrap();
        let app = routes().layer(SessionLayer::new(storage, config).unwrap());
        let cookie = sign_in(&app, "42").await;
        let data: serde_json::Value =
            serde_json::from_str(&send(&app, "/all", Some(&cookie), &[]).await.body).unwrap();
        assert_eq!(data[key], "42", "{profile}: {data}");
        assert!(
            data.get("_tessera").is_none(),
            "tessera's metadata stays out of the data"
        );
        let list: Vec<UserSession> =
            serde_json::from_str(&send(&app, "/sessions", Some(&cookie), &[]).await.body).unwrap();
        assert_eq!(list.len(), 1, "{profile}");
        // The dict is the framework's own unless a setting needs tessera's metadata in it.
        assert_eq!(
            list[0].created.is_some(),
            devices,
            "{profile}, devices {devices}"
        );
        if profile == Profile::Django {
            // Django's files hold the dict signed and compressed: `created` above shows it.
            continue;
        }
        let files = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| std::fs::read(e.path()).unwrap())
            .collect::<Vec<_>>();
        let carries = files.iter().any(|f| f.windows(8).any(|w| w == b"_tessera"));
        assert_eq!(carries, devices, "{profile}, devices {devices}");
    }
}
