//! The middleware's request lifecycle: cookie sessions, expiry, refresh, key rotation,
//! failures. Store-agnostic behaviour is in the conformance suite.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::header::{COOKIE, SET_COOKIE, VARY};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tessera::clock::ManualClock;
use tessera::config::SessionConfigBuilder;
use tessera::cookie_session::CookieFormat;
use tessera::store::memory::MemoryStore;
use tessera::store::{Error, Expected, Loaded, Saved, SessionStore};
use tessera::{Data, Expiry, Record, Session, SessionConfig, SessionId, SessionLayer, Storage};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tower::ServiceExt;

const KEY: &str = "lifecycle-test-secret-key-0123456789abcdef";
const OLD_KEY: &str = "an-older-secret-key-still-accepted-0123456";

fn routes() -> Router {
    support::routes::put_and_all()
        .route("/clear", get(|s: Session| async move { s.clear() }))
        .route(
            "/expiry/{seconds}",
            get(|s: Session, Path(secs): Path<i64>| async move {
                s.set_expiry(Expiry::from_seconds(secs));
                s.insert("x", 1).unwrap();
            }),
        )
        .route(
            "/expire-at/{unix}",
            get(|s: Session, Path(unix): Path<i64>| async move {
                s.set_expiry(OffsetDateTime::from_unix_timestamp(unix).unwrap());
                s.insert("x", 1).unwrap();
            }),
        )
        .route(
            "/big/{n}",
            get(|s: Session, Path(n): Path<usize>| async move {
                s.insert("big", "y".repeat(n)).unwrap();
            }),
        )
}

fn app(storage: Storage, config: SessionConfigBuilder) -> Router {
    routes().layer(SessionLayer::new(storage, config.build().unwrap()).unwrap())
}

fn base() -> SessionConfigBuilder {
    SessionConfig::builder().secret_key(KEY)
}

struct Reply {
    status: StatusCode,
    set_cookie: Vec<String>,
    vary: Vec<String>,
    body: Vec<u8>,
}

impl Reply {
    fn cookie(&self) -> String {
        self.set_cookie[0].split(';').next().unwrap().to_owned()
    }
    fn data(&self) -> Data {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn send(app: &Router, uri: &str, cookie: Option<&str>) -> Reply {
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
    let all = |name| {
        parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let (set_cookie, vary) = (all(SET_COOKIE), all(VARY));
    Reply {
        status: parts.status,
        set_cookie,
        vary,
        body: body.collect().await.unwrap().to_bytes().to_vec(),
    }
}

fn cookie_storages() -> [Storage; 2] {
    [
        Storage::Cookie(CookieFormat::Signed),
        Storage::Cookie(CookieFormat::Encrypted),
    ]
}

#[tokio::test]
async fn cookie_sessions_round_trip_and_refuse_tampering() {
    for storage in cookie_storages() {
        let app = app(storage, base());
        let first = send(&app, "/put/user/ada", None).await;
        assert_eq!(first.status, 200);
        let cookie = first.cookie();
        let second = send(&app, "/put/n/2", Some(&cookie)).await;
        let data = send(&app, "/all", Some(&second.cookie())).await.data();
        assert_eq!(data.get("user"), Some(&json!("ada")));
        assert_eq!(data.get("n"), Some(&json!("2")));

        // Flip one character of the value: a fresh session, status 200.
        let (name, value) = cookie.split_once('=').unwrap();
        let mut bytes = value.as_bytes().to_vec();
        bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
        let tampered = format!("{name}={}", String::from_utf8(bytes).unwrap());
        let reply = send(&app, "/all", Some(&tampered)).await;
        assert_eq!(reply.status, 200);
        assert!(reply.data().is_empty());
        for garbage in [
            "session=",
            "session=...",
            "session=%%%",
            &format!("session={}", "A".repeat(9000)),
        ] {
            let reply = send(&app, "/all", Some(garbage)).await;
            assert_eq!(reply.status, 200, "{garbage:.40}");
            assert!(reply.data().is_empty());
        }
    }
}

#[tokio::test]
async fn signed_cookies_are_readable_encrypted_ones_are_not() {
    let [signed, encrypted] = cookie_storages();
    let s = send(&app(signed, base()), "/put/secret/plaintext-marker", None)
        .await
        .cookie();
    let e = send(
        &app(encrypted, base()),
        "/put/secret/plaintext-marker",
        None,
    )
    .await
    .cookie();
    let payload = s.split_once('=').unwrap().1.split('.').next().unwrap();
    let decoded =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap();
    assert!(String::from_utf8_lossy(&decoded).contains("plaintext-marker"));
    assert!(!e.contains("plaintext"));
}

#[tokio::test]
async fn cookies_are_bound_to_their_name() {
    let app_a = app(Storage::Cookie(CookieFormat::Signed), base());
    let app_b = app(
        Storage::Cookie(CookieFormat::Signed),
        base().cookie_name("other"),
    );
    let cookie = send(&app_a, "/put/a/1", None).await.cookie();
    let moved = cookie.replacen("session=", "other=", 1);
    assert!(send(&app_b, "/all", Some(&moved)).await.data().is_empty());
}

#[tokio::test]
async fn rotated_keys_still_verify_and_are_resigned() {
    let old = |storage| app(storage, SessionConfig::builder().secret_key(OLD_KEY));
    let new = |storage| app(storage, base().fallback_key(OLD_KEY));
    let store = Arc::new(MemoryStore::new(100));
    for storage in [
        Storage::Cookie(CookieFormat::Signed),
        Storage::Cookie(CookieFormat::Encrypted),
        Storage::Store(store.clone()),
    ] {
        let old_cookie = send(&old(storage.clone()), "/put/a/1", None).await.cookie();
        let reply = send(&new(storage.clone()), "/all", Some(&old_cookie)).await;
        assert_eq!(
            reply.data().get("a"),
            Some(&json!("1")),
            "a fallback key verifies"
        );
        let resigned = reply.cookie();
        assert_ne!(
            resigned, old_cookie,
            "the cookie is re-signed with the current key"
        );
        let current_only = app(storage, base());
        assert_eq!(
            send(&current_only, "/all", Some(&resigned))
                .await
                .data()
                .get("a"),
            Some(&json!("1"))
        );
        assert!(send(&current_only, "/all", Some(&old_cookie))
            .await
            .data()
            .is_empty());
    }
}

/// An encrypted cookie session `{"user":"ada","n":[1,2]}` under `KEY`, deadline 2100, sealed by
/// tessera before XAES-256-GCM (XChaCha20-Poly1305, no version byte).
const LEGACY_ENCRYPTED_COOKIE: &str = "session=VKHegBrcpQVxDkSiOxeZBJjXTBSYpACc6mSmnVQO3ZLPns__cDad5RhJzlk-NR2bMFZ8PJeiqSg4YiZcAEjad_GX9MdrXjEtKNfiYbSmstDjs7ZXiGE";

#[tokio::test]
async fn legacy_encrypted_cookies_are_read_and_reissued_in_the_current_format() {
    // Without a refresh every response, only the format change sends the cookie again.
    let app = app(
        Storage::Cookie(CookieFormat::Encrypted),
        base().refresh_each_request(false),
    );
    let reply = send(&app, "/all", Some(LEGACY_ENCRYPTED_COOKIE)).await;
    assert_eq!(reply.data().get("user"), Some(&json!("ada")));
    assert_eq!(reply.data().get("n"), Some(&json!([1, 2])));
    assert_eq!(reply.set_cookie.len(), 1, "the cookie is sent again");
    let reissued = reply.cookie();
    let value = reissued.strip_prefix("session=").unwrap();
    let raw = URL_SAFE_NO_PAD.decode(value).unwrap();
    assert_eq!(raw[0], 0x01, "in the versioned XAES-256-GCM format");
    let again = send(&app, "/all", Some(&reissued)).await;
    assert_eq!(again.data().get("user"), Some(&json!("ada")));
    assert!(
        again.set_cookie.is_empty(),
        "a current-format cookie is not sent again: {:?}",
        again.set_cookie
    );
}

#[tokio::test]
async fn expired_cookie_sessions_are_refused_by_the_server() {
    let clock = ManualClock::new(datetime!(2030-01-01 0:00 UTC));
    let config = base()
        .clock(Arc::new(clock.clone()))
        .lifetime(Duration::hours(1));
    let app = app(Storage::Cookie(CookieFormat::Signed), config);
    let cookie = send(&app, "/put/a/1", None).await.cookie();
    clock.advance(Duration::minutes(59));
    assert_eq!(send(&app, "/all", Some(&cookie)).await.data().len(), 1);
    clock.advance(Duration::minutes(2));
    assert!(
        send(&app, "/all", Some(&cookie)).await.data().is_empty(),
        "a replayed cookie past its deadline is refused"
    );
}

#[tokio::test]
async fn cookie_attributes_follow_the_expiry() {
    let clock = ManualClock::new(datetime!(2030-01-01 0:00 UTC));
    let app = app(
        Storage::Cookie(CookieFormat::Encrypted),
        base().clock(Arc::new(clock)).lifetime(Duration::days(14)),
    );
    let default = send(&app, "/put/a/1", None).await.set_cookie[0].clone();
    assert!(default.contains("Max-Age=1209600"), "{default}");
    assert!(
        default.contains("Expires=Tue, 15 Jan 2030 00:00:00 GMT"),
        "{default}"
    );
    assert!(
        default.contains("HttpOnly")
            && default.contains("SameSite=Lax")
            && default.contains("Path=/")
    );
    let browser = send(&app, "/expiry/0", None).await.set_cookie[0].clone();
    assert!(
        !browser.contains("Max-Age") && !browser.contains("Expires"),
        "{browser}"
    );
    let short = send(&app, "/expiry/300", None).await.set_cookie[0].clone();
    assert!(short.contains("Max-Age=300"), "{short}");
    let at = datetime!(2030-02-01 0:00 UTC).unix_timestamp();
    let fixed = send(&app, &format!("/expire-at/{at}"), None)
        .await
        .set_cookie[0]
        .clone();
    assert!(
        fixed.contains("Expires=Fri, 01 Feb 2030 00:00:00 GMT"),
        "{fixed}"
    );
    // An expiry already past deletes rather than saves.
    let past = send(&app, "/expiry/-5", None).await;
    assert!(past.set_cookie.is_empty());
}

#[tokio::test]
async fn browser_close_by_default_when_not_permanent() {
    let app = app(
        Storage::Cookie(CookieFormat::Signed),
        base().permanent(false),
    );
    let cookie = send(&app, "/put/a/1", None).await.set_cookie[0].clone();
    assert!(!cookie.contains("Max-Age"), "{cookie}");
    let app = app_with(base().expire_at_browser_close(true));
    let cookie = send(&app, "/put/a/1", None).await.set_cookie[0].clone();
    assert!(!cookie.contains("Max-Age"), "{cookie}");
}

fn app_with(config: SessionConfigBuilder) -> Router {
    app(Storage::Cookie(CookieFormat::Signed), config)
}

#[tokio::test]
async fn oversized_cookie_sessions_are_not_sent() {
    for storage in cookie_storages() {
        let app = app(storage, base());
        let small = send(&app, "/big/100", None).await;
        assert_eq!(small.set_cookie.len(), 1);
        let big = send(&app, "/big/5000", None).await;
        assert_eq!(big.status, 200);
        assert!(
            big.set_cookie.is_empty(),
            "a cookie browsers would drop is not sent"
        );
    }
    // Compression makes room for repetitive data.
    let app = app(Storage::Cookie(CookieFormat::Signed), base().compress(true));
    assert_eq!(send(&app, "/big/5000", None).await.set_cookie.len(), 1);
}

#[tokio::test]
async fn clear_deletes_the_record_and_the_cookie() {
    let store = Arc::new(MemoryStore::new(100));
    let app = app(Storage::Store(store.clone()), base());
    let cookie = send(&app, "/put/a/1", None).await.cookie();
    assert_eq!(store.len_after_sync().await, 1);
    let reply = send(&app, "/clear", Some(&cookie)).await;
    assert!(
        reply.set_cookie[0].contains("Max-Age=0"),
        "{:?}",
        reply.set_cookie
    );
    assert_eq!(store.len_after_sync().await, 0);
}

trait SyncLen {
    async fn len_after_sync(&self) -> u64;
}

impl SyncLen for MemoryStore {
    async fn len_after_sync(&self) -> u64 {
        self.clear_expired().await.unwrap();
        self.len()
    }
}

#[tokio::test]
async fn refresh_each_request_touches_without_rewriting() {
    let clock = ManualClock::new(datetime!(2030-01-01 0:00 UTC));
    let store = Arc::new(MemoryStore::new(100).with_clock(Arc::new(clock.clone())));
    let config = base()
        .clock(Arc::new(clock.clone()))
        .lifetime(Duration::hours(1))
        .refresh_each_request(true);
    let app = app(Storage::Store(store.clone()), config);
    let cookie = send(&app, "/put/a/1", None).await.cookie();
    let id = id_of(&cookie);
    let v1 = store.load(&id).await.unwrap().unwrap().version;
    for _ in 0..3 {
        clock.advance(Duration::minutes(40));
        let reply = send(&app, "/all", Some(&cookie)).await;
        assert_eq!(reply.data().len(), 1, "the touch kept the session alive");
        assert!(reply.set_cookie[0].contains("Max-Age=3600"));
    }
    assert_eq!(
        store.load(&id).await.unwrap().unwrap().version,
        v1,
        "touch only, no rewrite"
    );
}

#[tokio::test]
async fn without_refresh_sessions_end_after_their_lifetime() {
    let clock = ManualClock::new(datetime!(2030-01-01 0:00 UTC));
    let store = Arc::new(MemoryStore::new(100).with_clock(Arc::new(clock.clone())));
    let config = base()
        .clock(Arc::new(clock.clone()))
        .lifetime(Duration::hours(1));
    let app = app(Storage::Store(store), config);
    let cookie = send(&app, "/put/a/1", None).await.cookie();
    clock.advance(Duration::minutes(40));
    let reply = send(&app, "/all", Some(&cookie)).await;
    assert!(reply.set_cookie.is_empty());
    clock.advance(Duration::minutes(40));
    assert!(send(&app, "/all", Some(&cookie)).await.data().is_empty());
}

#[tokio::test]
async fn save_every_request_rewrites_reads() {
    let store = Arc::new(MemoryStore::new(100));
    let app = app(
        Storage::Store(store.clone()),
        base().save_every_request(true),
    );
    let cookie = send(&app, "/put/a/1", None).await.cookie();
    let id = id_of(&cookie);
    let v1 = store.load(&id).await.unwrap().unwrap().version;
    let reply = send(&app, "/all", Some(&cookie)).await;
    assert_eq!(reply.set_cookie.len(), 1);
    assert_ne!(store.load(&id).await.unwrap().unwrap().version, v1);
}

#[tokio::test]
async fn a_saved_session_sends_back_the_id_cookie_it_came_with() {
    let store = Arc::new(MemoryStore::new(100));
    let app = app(Storage::Store(store.clone()), base());
    let cookie = send(&app, "/put/a/1", None).await.cookie();
    let again = send(&app, "/put/a/2", Some(&cookie)).await;
    assert_eq!(
        again.cookie(),
        cookie,
        "same id, same key: the same signed value"
    );
    assert_eq!(
        send(&app, "/all", Some(&cookie)).await.data().get("a"),
        Some(&json!("2"))
    );
    // A new id (cycled by a flush and a new key) is signed afresh and verifies.
    let flushed = app_with_flush(store);
    let cycled = send(&flushed, "/flush-put", Some(&cookie)).await.cookie();
    assert_ne!(cycled, cookie);
    assert_eq!(
        send(&app, "/all", Some(&cycled)).await.data().get("b"),
        Some(&json!(3))
    );
}

fn app_with_flush(store: Arc<MemoryStore>) -> Router {
    Router::new()
        .route(
            "/flush-put",
            get(|s: Session| async move {
                s.flush();
                s.insert("b", 3).unwrap();
            }),
        )
        .layer(SessionLayer::new(Storage::Store(store), base().build().unwrap()).unwrap())
}

#[tokio::test]
async fn unsigned_ids_work_when_signing_is_off() {
    let store = Arc::new(MemoryStore::new(100));
    let app = app(
        Storage::Store(store.clone()),
        SessionConfig::builder().sign_id(false),
    );
    let cookie = send(&app, "/put/a/1", None).await.cookie();
    let raw = cookie.split_once('=').unwrap().1;
    assert_eq!(raw.len(), 43, "the bare id: {raw}");
    assert_eq!(send(&app, "/all", Some(&cookie)).await.data().len(), 1);
}

#[tokio::test]
async fn missing_secret_key_fails_at_startup() {
    let config = SessionConfig::builder().build().unwrap();
    for storage in [
        Storage::Cookie(CookieFormat::Signed),
        Storage::store(MemoryStore::new(1)),
    ] {
        let err = SessionLayer::new(storage, config.clone())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no secret key was set"), "{err}");
    }
}

#[tokio::test]
async fn untouched_handlers_cost_nothing_and_missing_layer_is_explained() {
    let app = Router::new().route("/plain", get(|| async { "hi" })).layer(
        SessionLayer::new(Storage::store(MemoryStore::new(1)), base().build().unwrap()).unwrap(),
    );
    let reply = send(&app, "/plain", Some("session=whatever")).await;
    assert!(reply.vary.is_empty() && reply.set_cookie.is_empty());

    let bare = Router::new().route("/all", get(|s: Session| async move { s.len().to_string() }));
    let reply = send(&bare, "/all", None).await;
    assert_eq!(reply.status, 500);
    assert!(String::from_utf8_lossy(&reply.body).contains("SessionLayer"));
}

fn id_of(cookie: &str) -> SessionId {
    let value = cookie.split_once('=').unwrap().1;
    SessionId::parse(value.rsplit_once('.').unwrap().0).unwrap()
}

/// A store whose server never answers: the middleware's timeout, not a stand-in for a real
/// server (the store issues' fault tests stop real servers).
#[derive(Debug)]
struct Unresponsive;

#[async_trait]
impl SessionStore for Unresponsive {
    async fn load(&self, _: &SessionId) -> Result<Option<Loaded>, Error> {
        std::future::pending().await
    }
    async fn save(&self, _: &SessionId, _: &Record, _: Expected) -> Result<Saved, Error> {
        std::future::pending().await
    }
    async fn delete(&self, _: &SessionId) -> Result<(), Error> {
        std::future::pending().await
    }
    async fn touch(&self, _: &SessionId, _: OffsetDateTime) -> Result<bool, Error> {
        std::future::pending().await
    }
    async fn clear_expired(&self) -> Result<u64, Error> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_store_that_hangs_gives_503_within_the_timeout() {
    let config = base().store_timeout(StdDuration::from_millis(200));
    let app = app(Storage::store(Unresponsive), config);
    let cookie = format!(
        "session={}",
        tessera::crypto::Signer::new(
            &tessera::crypto::KeyRing::new(tessera::crypto::SecretKey::new(KEY).unwrap()),
            tessera::crypto::Purpose::IdCookie
        )
        .sign("session", SessionId::generate().unwrap().expose())
    );
    for (uri, cookie) in [("/all", Some(cookie.as_str())), ("/put/a/1", None)] {
        let start = Instant::now();
        let reply = send(&app, uri, cookie).await;
        let took = start.elapsed();
        assert_eq!(reply.status, 503, "{uri}");
        assert!(
            took >= StdDuration::from_millis(200) && took < StdDuration::from_secs(2),
            "{uri}: {took:?}"
        );
    }
}

#[tokio::test]
async fn a_session_deleted_meanwhile_is_not_resurrected() {
    let store = Arc::new(MemoryStore::new(100));
    let racing = store.clone();
    let app = routes()
        .route(
            "/write-after-logout",
            get(move |s: Session| {
                let store = racing.clone();
                async move {
                    // A concurrent request logs out between this request's load and its save.
                    store.delete(&s.id().unwrap()).await.unwrap();
                    s.insert("late", 1).unwrap();
                }
            }),
        )
        .layer(SessionLayer::new(Storage::Store(store.clone()), base().build().unwrap()).unwrap());
    let cookie = send(&app, "/put/a/1", None).await.cookie();
    let reply = send(&app, "/write-after-logout", Some(&cookie)).await;
    assert_eq!(reply.status, 400, "Django's SessionInterrupted");
    assert!(
        store.load(&id_of(&cookie)).await.unwrap().is_none(),
        "the logout stands"
    );
}

#[tokio::test]
async fn vary_cookie_is_added_once() {
    let app = Router::new()
        .route(
            "/",
            get(|s: Session| async move {
                assert_eq!(s.len(), 0);
                ([(VARY, "Accept-Encoding, cookie")], "ok")
            }),
        )
        .route(
            "/plain",
            get(|s: Session| async move { s.len().to_string() }),
        )
        .layer(
            SessionLayer::new(
                Storage::Cookie(CookieFormat::Signed),
                base().build().unwrap(),
            )
            .unwrap(),
        );
    assert_eq!(
        send(&app, "/", None).await.vary,
        ["Accept-Encoding, cookie"]
    );
    assert_eq!(send(&app, "/plain", None).await.vary, ["Cookie"]);
}

/// Routes whose handler reads `n`, then lets a concurrent request bump `n` (another app server,
/// writing to the store directly, or this app itself, through a nested request), then writes.
fn racing_routes(store: &Arc<Counting>, me: Arc<std::sync::OnceLock<Router>>) -> Router {
    let direct = store.clone();
    routes()
        .route(
            "/bump",
            get(|s: Session| async move {
                s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).unwrap();
            }),
        )
        .route(
            "/stale-insert",
            get(move |s: Session| {
                let store = direct.clone();
                async move {
                    let n: u64 = s.get_or_default("n").unwrap();
                    // Another app server saves the session meanwhile.
                    let id = s.id().unwrap();
                    let loaded = store.load(&id).await.unwrap().unwrap();
                    let mut data = Data::clone(&loaded.record.data);
                    data.insert("n".into(), json!(n + 10));
                    let theirs = Record::new(data, loaded.record.expiry, loaded.record.expires_at);
                    let saved = store
                        .save(&id, &theirs, Expected::Version(loaded.version))
                        .await
                        .unwrap();
                    assert!(matches!(saved, Saved::Written(_)));
                    s.insert("n", n + 1).unwrap();
                }
            }),
        )
        .route(
            "/nested-update",
            get(move |s: Session, headers: http::HeaderMap| {
                let me = me.clone();
                async move {
                    s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).unwrap();
                    // A request of the same session in this process commits first.
                    let mut nested = Request::get("/bump");
                    nested = nested.header(COOKIE, headers.get(COOKIE).unwrap());
                    let app = me.get().unwrap().clone();
                    let res = app
                        .oneshot(nested.body(Body::empty()).unwrap())
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 200);
                }
            }),
        )
}

/// A memory store that counts writes, refused writes and reloads; once armed, its next save
/// waits at a gate until the test opens it.
#[derive(Debug)]
struct Counting {
    inner: MemoryStore,
    writes: std::sync::atomic::AtomicU32,
    conflicts: std::sync::atomic::AtomicU32,
    reloads: std::sync::atomic::AtomicU32,
    armed: std::sync::atomic::AtomicBool,
    at_gate: tokio::sync::Notify,
    gate: tokio::sync::Semaphore,
}

impl Counting {
    fn new() -> Self {
        Self {
            inner: MemoryStore::new(100),
            writes: 0.into(),
            conflicts: 0.into(),
            reloads: 0.into(),
            armed: false.into(),
            at_gate: tokio::sync::Notify::new(),
            gate: tokio::sync::Semaphore::new(0),
        }
    }

    fn count(counter: &std::sync::atomic::AtomicU32) -> u32 {
        counter.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl SessionStore for Counting {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        self.inner.load(id).await
    }
    async fn save(&self, id: &SessionId, r: &Record, e: Expected) -> Result<Saved, Error> {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.at_gate.notify_one();
            self.gate.acquire().await.unwrap().forget();
        }
        let saved = self.inner.save(id, r, e).await?;
        let counter = match saved {
            Saved::Written(_) => &self.writes,
            Saved::Conflict => &self.conflicts,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(saved)
    }
    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.inner.delete(id).await
    }
    async fn touch(&self, id: &SessionId, at: OffsetDateTime) -> Result<bool, Error> {
        self.inner.touch(id, at).await
    }
    async fn clear_expired(&self) -> Result<u64, Error> {
        self.inner.clear_expired().await
    }
    async fn reload(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        self.reloads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.load(id).await
    }
}

fn racing_app(config: SessionConfigBuilder) -> (Router, Arc<Counting>) {
    let store = Arc::new(Counting::new());
    let me = Arc::new(std::sync::OnceLock::new());
    let app = racing_routes(&store, me.clone())
        .layer(SessionLayer::new(Storage::Store(store.clone()), config.build().unwrap()).unwrap());
    me.set(app.clone()).unwrap();
    (app, store)
}

async fn stored_n(store: &Counting, cookie: &str) -> u64 {
    let loaded = store.load(&id_of(cookie)).await.unwrap().unwrap();
    loaded.record.data["n"].as_u64().unwrap()
}

#[tokio::test]
async fn a_stale_read_based_write_is_a_409_that_saves_nothing() {
    let (app, store) = racing_app(base());
    let cookie = send(&app, "/bump", None).await.cookie();
    let res = app
        .clone()
        .oneshot(
            Request::get("/stale-insert")
                .header(COOKIE, &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.headers().get(SET_COOKIE).is_none());
    let failure = res
        .extensions()
        .get::<tessera::middleware::SaveFailure>()
        .expect("the failed response says why");
    match failure.error() {
        tessera::SessionError::Conflict(stale) => assert_eq!(stale.key(), "n"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(body.is_empty(), "nothing of the session in the body");
    assert_eq!(stored_n(&store, &cookie).await, 11, "the other save stands");
    assert_eq!(Counting::count(&store.reloads), 1);
}

#[tokio::test]
async fn last_writer_wins_when_configured() {
    let (app, store) = racing_app(base().stale_writes(tessera::StaleWrites::LastWriterWins));
    let cookie = send(&app, "/bump", None).await.cookie();
    assert_eq!(send(&app, "/stale-insert", Some(&cookie)).await.status, 200);
    assert_eq!(
        stored_n(&store, &cookie).await,
        2,
        "this request's value won"
    );
}

#[tokio::test]
async fn an_update_behind_a_commit_of_this_process_is_laid_over_it() {
    let (app, store) = racing_app(base());
    let cookie = send(&app, "/bump", None).await.cookie();
    assert_eq!(
        send(&app, "/nested-update", Some(&cookie)).await.status,
        200
    );
    assert_eq!(stored_n(&store, &cookie).await, 3, "both increments kept");
    let conflicts = Counting::count(&store.conflicts);
    let reloads = Counting::count(&store.reloads);
    assert_eq!(
        (conflicts, reloads),
        (0, 0),
        "laid over the nested request's record at once: no refused write, no reload"
    );
}

/// Commits that queue behind a save in flight are written together, in one store write, each
/// judged on its own: a stale read is refused alone.
#[tokio::test]
async fn commits_waiting_behind_a_save_are_written_as_one_group() {
    let store = Arc::new(Counting::new());
    let (handled, mut handlers_done) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (bump_done, stale_done) = (handled.clone(), handled);
    let app = Router::new()
        .route(
            "/bump",
            get(move |s: Session| {
                let done = bump_done.clone();
                async move {
                    s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).unwrap();
                    done.send(()).unwrap();
                }
            }),
        )
        .route(
            "/stale",
            get(move |s: Session| {
                let done = stale_done.clone();
                async move {
                    let n: u64 = s.get_or_default("n").unwrap();
                    s.insert("n", n + 100).unwrap();
                    done.send(()).unwrap();
                }
            }),
        )
        .layer(SessionLayer::new(Storage::Store(store.clone()), base().build().unwrap()).unwrap());
    let request = |uri: &str, cookie: Option<&str>| {
        let mut req = Request::get(uri);
        if let Some(cookie) = cookie {
            req = req.header(COOKIE, cookie);
        }
        let app = app.clone();
        let req = req.body(Body::empty()).unwrap();
        tokio::spawn(async move { app.oneshot(req).await.unwrap().status() })
    };
    let cookie = send(&app, "/bump", None).await.cookie();
    handlers_done.recv().await.unwrap();
    assert_eq!(Counting::count(&store.writes), 1);

    // The first commit's write waits at the gate; the others load, run and queue behind it.
    store.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let first = request("/bump", Some(&cookie));
    store.at_gate.notified().await;
    handlers_done.recv().await.unwrap();
    let mut queued: Vec<_> = (0..4).map(|_| request("/bump", Some(&cookie))).collect();
    queued.push(request("/stale", Some(&cookie)));
    for _ in 0..queued.len() {
        // On this single-threaded runtime a handler's commit joins the queue in the same poll
        // in which the handler returns, before this test runs again.
        handlers_done.recv().await.unwrap();
    }
    store.gate.add_permits(1);

    assert_eq!(first.await.unwrap(), 200);
    let stale = queued.pop().unwrap().await.unwrap();
    for bump in queued {
        assert_eq!(bump.await.unwrap(), 200);
    }
    assert_eq!(stale, StatusCode::CONFLICT, "its read of n went stale");
    let loaded = store.inner.load(&id_of(&cookie)).await.unwrap().unwrap();
    assert_eq!(
        loaded.record.data["n"],
        json!(6),
        "the seed and five increments"
    );
    assert_eq!(
        Counting::count(&store.writes),
        3,
        "the seed, the gated write, and one write for the four queued increments"
    );
}
