//! The OWASP Session Management Cheat Sheet, one test per point:
//! <https://cheatsheetseries.owasp.org/cheatsheets/Session_Management_Cheat_Sheet.html>.
//!
//! Each test is named after the sheet's point it checks. Apps run in-process over a
//! `MemoryStore` (and cookie sessions where the point applies to them too).
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tessera::config::SessionConfigBuilder;
use tessera::cookie_session::CookieFormat;
use tessera::interop::Profile;
use tessera::store::memory::MemoryStore;
use tessera::store::{Error, Expected, Loaded, Saved, SessionStore};
use tessera::{Data, Record, Session, SessionConfig, SessionId, SessionLayer, Storage};
use time::OffsetDateTime;
use tower::ServiceExt;

const KEY: &str = "owasp-test-secret-key-0123456789abcdef-xyz";

fn routes() -> Router {
    support::routes::put_and_all()
        .route(
            "/login/{user}",
            get(|s: Session, Path(user): Path<String>| async move {
                s.cycle_id();
                s.insert("user", user).unwrap();
            }),
        )
        .route("/logout", get(|s: Session| async move { s.flush() }))
        .route(
            "/cached",
            get(|s: Session| async move {
                s.insert("n", 1).unwrap();
                ([(CACHE_CONTROL, "private, max-age=60")], "")
            }),
        )
        .route("/plain", get(|| async { "no session here" }))
}

fn base() -> SessionConfigBuilder {
    SessionConfig::builder().secret_key(KEY)
}

fn app(storage: Storage, config: SessionConfigBuilder) -> Router {
    capture_logs();
    routes().layer(SessionLayer::new(storage, config.build().unwrap()).unwrap())
}

fn memory_app(config: SessionConfigBuilder) -> (Router, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new(1_000));
    (app(Storage::Store(store.clone()), config), store)
}

struct Reply {
    status: StatusCode,
    set_cookie: Vec<String>,
    vary: Vec<String>,
    cache_control: Vec<String>,
    body: Vec<u8>,
}

impl Reply {
    /// `name=value` of the first `Set-Cookie`.
    fn cookie(&self) -> String {
        self.set_cookie[0].split(';').next().unwrap().to_owned()
    }
    /// The value of the first `Set-Cookie`.
    fn value(&self) -> String {
        self.cookie().split_once('=').unwrap().1.to_owned()
    }
    fn data(&self) -> Data {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// The id in a signed id cookie value (`id.signature`) or a bare one.
fn id_of(value: &str) -> SessionId {
    SessionId::parse(value.split('.').next().unwrap()).unwrap()
}

async fn send_raw(app: &Router, uri: &str, cookie: Option<HeaderValue>) -> Reply {
    let mut req = Request::get(uri).body(Body::empty()).unwrap();
    if let Some(cookie) = cookie {
        req.headers_mut().insert(COOKIE, cookie);
    }
    let res = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let all = |name| {
        parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    Reply {
        status: parts.status,
        set_cookie: all(SET_COOKIE),
        vary: all(VARY),
        cache_control: all(CACHE_CONTROL),
        body: body.collect().await.unwrap().to_bytes().to_vec(),
    }
}

async fn send(app: &Router, uri: &str, cookie: Option<&str>) -> Reply {
    send_raw(app, uri, cookie.map(|c| HeaderValue::from_str(c).unwrap())).await
}

// --- Cookies: "Cookie attributes", "__Host- / __Secure- prefixes" -------------------------

/// The setting a refused configuration names (the start of `ConfigError`'s message).
fn refused(builder: SessionConfigBuilder) -> String {
    builder.build().unwrap_err().to_string()
}

#[test]
fn cookie_attributes_that_browsers_would_refuse_or_that_would_inject_are_refused_at_startup() {
    // Names: an RFC 6265 cookie-name is an RFC 7230 token.
    for name in [
        "",
        "a b",
        "a\tb",
        "a\r\nb",
        "a\nb",
        "a;b",
        "a=b",
        "a,b",
        "a\"b",
        "a(b)",
        "a/b",
        "a:b",
        "a@b",
        "a[b]",
        "a?b",
        "a{b}",
        "a\\b",
        "caf\u{e9}",
        "a\u{7f}",
    ] {
        let err = refused(base().cookie_name(name));
        assert!(err.starts_with("SESSION_COOKIE_NAME"), "{name:?}: {err}");
    }
    for name in ["session", "sessionid", "a!#$%&'*+-.^_`|~9"] {
        assert_eq!(
            base().cookie_name(name).build().unwrap().cookie().name(),
            name
        );
    }
    // Path and Domain are written into Set-Cookie as they are: no header or attribute
    // injection.
    for path in [
        "/a\r\nSet-Cookie: x=1",
        "/a\nb",
        "/a\tb",
        "/a b",
        "/a;b",
        "/a; Domain=evil.example",
        "a",
    ] {
        let err = refused(base().path(path));
        assert!(err.starts_with("SESSION_COOKIE_PATH"), "{path:?}: {err}");
    }
    for domain in [
        "example.com\r\nSet-Cookie: x=1",
        "example.com\n",
        "example.com;x",
        "exa mple.com",
        "example.com; SameSite=None",
        "",
    ] {
        let err = refused(base().domain(domain));
        assert!(
            err.starts_with("SESSION_COOKIE_DOMAIN"),
            "{domain:?}: {err}"
        );
    }
    // SameSite=None needs Secure (browsers drop the cookie otherwise).
    let none = || base().same_site(Some(tessera::config::SameSite::None));
    assert!(refused(none()).starts_with("SESSION_COOKIE_SAMESITE"));
    none().secure(true).build().unwrap();
}

#[test]
fn cookie_prefixes_are_refused_at_startup_without_what_browsers_require_of_them() {
    for name in ["__Host-session", "__host-session", "__HOST-session"] {
        for builder in [
            base().cookie_name(name),
            base().cookie_name(name).secure(true).domain("example.com"),
            base().cookie_name(name).secure(true).path("/app"),
        ] {
            let err = refused(builder);
            assert!(err.starts_with("SESSION_COOKIE_NAME"), "{name}: {err}");
            assert!(err.contains("__Host-"), "{err}");
        }
        base().cookie_name(name).secure(true).build().unwrap();
    }
    for name in ["__Secure-session", "__secure-session"] {
        let err = refused(base().cookie_name(name));
        assert!(err.starts_with("SESSION_COOKIE_NAME"), "{name}: {err}");
        assert!(err.contains("SESSION_COOKIE_SECURE"), "{err}");
        base()
            .cookie_name(name)
            .secure(true)
            .domain("example.com")
            .path("/app")
            .build()
            .unwrap();
    }
    // The `host_prefix` setting adds the prefix and checks the same rules.
    let err = refused(base().host_prefix(true));
    assert!(err.starts_with("SESSION_COOKIE_HOST_PREFIX"), "{err}");
    let err = refused(base().host_prefix(true).secure(true).path("/app"));
    assert!(err.starts_with("SESSION_COOKIE_HOST_PREFIX"), "{err}");
    let c = base().host_prefix(true).secure(true).build().unwrap();
    assert_eq!(c.cookie().name(), "__Host-session");
}

#[test]
fn cookie_configuration_from_the_environment_is_refused_naming_the_variable() {
    let from = |vars: &[(&str, &str)]| {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        SessionConfigBuilder::from_lookup(|name| vars.get(name).cloned())
            .and_then(SessionConfigBuilder::build)
    };
    for (vars, setting) in [
        (&[("SESSION_COOKIE_NAME", "a;b")][..], "SESSION_COOKIE_NAME"),
        (&[("SESSION_COOKIE_NAME", "a=b")], "SESSION_COOKIE_NAME"),
        (&[("SESSION_COOKIE_NAME", "a\r\nb")], "SESSION_COOKIE_NAME"),
        (
            &[("SESSION_COOKIE_NAME", "__Host-s")],
            "SESSION_COOKIE_NAME",
        ),
        (
            &[
                ("SESSION_COOKIE_NAME", "__Host-s"),
                ("SESSION_COOKIE_SECURE", "true"),
                ("SESSION_COOKIE_DOMAIN", "example.com"),
            ],
            "SESSION_COOKIE_NAME",
        ),
        (
            &[
                ("SESSION_COOKIE_NAME", "__Host-s"),
                ("SESSION_COOKIE_SECURE", "true"),
                ("SESSION_COOKIE_PATH", "/app"),
            ],
            "SESSION_COOKIE_NAME",
        ),
        (
            &[("SESSION_COOKIE_NAME", "__Secure-s")],
            "SESSION_COOKIE_NAME",
        ),
        (&[("SESSION_COOKIE_PATH", "/a;b")], "SESSION_COOKIE_PATH"),
        (&[("SESSION_COOKIE_PATH", "/a\r\nb")], "SESSION_COOKIE_PATH"),
        (
            &[("SESSION_COOKIE_DOMAIN", "a.b;c")],
            "SESSION_COOKIE_DOMAIN",
        ),
        (
            &[("SESSION_COOKIE_DOMAIN", "a.b\r\n")],
            "SESSION_COOKIE_DOMAIN",
        ),
        (
            &[("SESSION_COOKIE_SAMESITE", "None")],
            "SESSION_COOKIE_SAMESITE",
        ),
        (
            &[("SESSION_COOKIE_HOST_PREFIX", "true")],
            "SESSION_COOKIE_HOST_PREFIX",
        ),
    ] {
        let err = from(vars).unwrap_err().to_string();
        assert!(err.starts_with(setting), "{vars:?}: {err}");
    }
    let ok = from(&[
        ("SESSION_COOKIE_NAME", "__Host-s"),
        ("SESSION_COOKIE_SECURE", "true"),
        ("SESSION_COOKIE_SAMESITE", "None"),
    ])
    .unwrap();
    assert_eq!(ok.cookie().name(), "__Host-s");
}

#[tokio::test]
async fn cookie_attributes_accepted_are_the_ones_sent() {
    let (app, _) = memory_app(base().cookie_name("__Host-sid").secure(true));
    let reply = send(&app, "/put/a/1", None).await;
    let set = &reply.set_cookie[0];
    assert!(set.starts_with("__Host-sid="), "{set}");
    for part in ["; Secure", "; HttpOnly", "; Path=/", "; SameSite=Lax"] {
        assert!(set.contains(part), "{part} missing: {set}");
    }
    assert!(!set.contains("Domain"), "{set}");
}

// --- "Web content caching" ---------------------------------------------------------------

#[tokio::test]
async fn web_content_caching_responses_that_set_refresh_or_delete_the_cookie_are_no_store() {
    let stored = |config| memory_app(config).0;
    for (label, app) in [
        ("memory", stored(base())),
        ("cookie", app(Storage::Cookie(CookieFormat::Signed), base())),
    ] {
        // Set.
        let set = send(&app, "/put/a/1", None).await;
        assert_eq!(set.set_cookie.len(), 1, "{label}");
        assert_eq!(set.cache_control, ["no-store"], "{label}");
        assert_eq!(set.vary, ["Cookie"], "{label}");
        let cookie = set.cookie();
        // Read only: the response varies by cookie but sets nothing, and gains no
        // Cache-Control (caching it is the application's choice).
        let read = send(&app, "/all", Some(&cookie)).await;
        assert!(read.set_cookie.is_empty(), "{label}");
        assert!(read.cache_control.is_empty(), "{label}");
        assert_eq!(read.vary, ["Cookie"], "{label}");
        // Delete.
        let out = send(&app, "/logout", Some(&cookie)).await;
        assert!(out.set_cookie[0].contains("Max-Age=0"), "{label}");
        assert_eq!(out.cache_control, ["no-store"], "{label}");
        // A route that never touches the session: no header at all.
        let plain = send(&app, "/plain", Some(&cookie)).await;
        assert!(
            plain.cache_control.is_empty() && plain.vary.is_empty(),
            "{label}"
        );
        assert!(plain.set_cookie.is_empty(), "{label}");
        // The handler's own Cache-Control is kept as it is.
        let own = send(&app, "/cached", None).await;
        assert_eq!(own.set_cookie.len(), 1, "{label}");
        assert_eq!(own.cache_control, ["private, max-age=60"], "{label}");
    }
    // Refresh: `refresh_each_request` sends the cookie again on a read.
    for (label, app) in [
        ("memory", stored(base().refresh_each_request(true))),
        (
            "cookie",
            app(
                Storage::Cookie(CookieFormat::Signed),
                base().refresh_each_request(true),
            ),
        ),
    ] {
        let cookie = send(&app, "/put/a/1", None).await.cookie();
        let refreshed = send(&app, "/all", Some(&cookie)).await;
        assert_eq!(refreshed.set_cookie.len(), 1, "{label}");
        assert_eq!(refreshed.cache_control, ["no-store"], "{label}");
    }
}

// --- "Session ID generation and verification: permissive and strict session management",
// --- "Renew the session ID after any privilege level change", "Manual session expiration" --

#[tokio::test]
async fn strict_session_management_an_id_the_server_never_issued_is_never_adopted() {
    // Unsigned id cookies: a well-formed id that is not in the store.
    let (unsigned, store) = memory_app(base().sign_id(false));
    let forged = SessionId::generate().unwrap();
    let cookie = format!("session={}", forged.expose());
    let read = send(&unsigned, "/all", Some(&cookie)).await;
    assert_eq!(read.status, 200);
    assert!(read.data().is_empty());
    // The unknown cookie is expired, never sent back.
    assert_eq!(read.set_cookie.len(), 1);
    let set = &read.set_cookie[0];
    assert!(
        set.starts_with("session=;") && set.contains("Max-Age=0"),
        "{set}"
    );
    let write = send(&unsigned, "/put/a/1", Some(&cookie)).await;
    let issued = id_of(&write.value());
    assert_ne!(issued, forged);
    assert!(store.load(&forged).await.unwrap().is_none());
    assert!(store.load(&issued).await.unwrap().is_some());

    // Signed id cookies: validly signed (another store, same key) but unknown here.
    let (elsewhere, _) = memory_app(base());
    let (here, store) = memory_app(base());
    let foreign = send(&elsewhere, "/put/a/1", None).await.value();
    let cookie = format!("session={foreign}");
    assert!(send(&here, "/all", Some(&cookie)).await.data().is_empty());
    let write = send(&here, "/put/b/2", Some(&cookie)).await;
    assert_ne!(id_of(&write.value()), id_of(&foreign));
    assert!(store.load(&id_of(&foreign)).await.unwrap().is_none());
    let data = send(&here, "/all", Some(&write.cookie())).await.data();
    assert_eq!(data.get("b"), Some(&json!("2")));
    assert_eq!(data.get("a"), None);
}

#[tokio::test]
async fn renew_the_session_id_after_any_privilege_level_change() {
    for sign_id in [true, false] {
        let (app, store) = memory_app(base().sign_id(sign_id));
        let before = send(&app, "/put/cart/3", None).await;
        let old = id_of(&before.value());
        let login = send(&app, "/login/ada", Some(&before.cookie())).await;
        assert_eq!(login.set_cookie.len(), 1);
        let new = id_of(&login.value());
        assert_ne!(new, old);
        assert!(
            store.load(&old).await.unwrap().is_none(),
            "old id still loads"
        );
        let record = store.load(&new).await.unwrap().unwrap().record;
        assert_eq!(record.data.get("user"), Some(&json!("ada")));
        assert_eq!(record.data.get("cart"), Some(&json!("3")));
        // The old cookie is a fresh session now.
        let stale = send(&app, "/all", Some(&before.cookie())).await;
        assert!(stale.data().is_empty());
        let current = send(&app, "/all", Some(&login.cookie())).await;
        assert_eq!(current.data().get("user"), Some(&json!("ada")));
    }
}

#[tokio::test]
async fn manual_session_expiration_logout_removes_the_record_and_the_cookie() {
    let (app, store) = memory_app(base());
    let login = send(&app, "/login/ada", None).await;
    let id = id_of(&login.value());
    assert!(store.load(&id).await.unwrap().is_some());
    let out = send(&app, "/logout", Some(&login.cookie())).await;
    assert!(store.load(&id).await.unwrap().is_none());
    let removal = &out.set_cookie[0];
    assert!(removal.starts_with("session=;"), "{removal}");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    // Replaying the cookie after logout gets nothing back.
    assert!(send(&app, "/all", Some(&login.cookie()))
        .await
        .data()
        .is_empty());
}

// --- "Logging sessions life cycle": never the id, the cookie or the key in clear -----------

/// A buffer the log lines of one thread land in.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

thread_local! {
    static CAPTURE: std::cell::RefCell<Option<Captured>> = const { std::cell::RefCell::new(None) };
}

/// Writes to the current thread's [`CAPTURE`] buffer, if it has one.
struct ThreadWriter;

impl Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| {
            if let Some(captured) = capture.borrow().as_ref() {
                captured.0.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs, once and before any test of this file reaches one of tessera's log lines, a global
/// subscriber that formats every event at TRACE into the current thread's buffer.
///
/// Global rather than `set_default` per test: a thread-local subscriber set while another test
/// thread registers a log line's callsite can find that callsite's interest already cached as
/// "never" (tracing-core), and the line is lost now and then. Every app of this file is built
/// through [`app`], which calls this first.
fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(|| ThreadWriter)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

/// A memory store whose records read back as corrupt while `corrupt` is on.
#[derive(Debug)]
struct Corruptible {
    inner: MemoryStore,
    corrupt: AtomicBool,
}

#[async_trait]
impl SessionStore for Corruptible {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        if self.corrupt.load(Ordering::SeqCst) {
            let cause = serde_json::from_slice::<serde_json::Value>(b"{not json").unwrap_err();
            return Err(Error::corrupt(id, cause));
        }
        self.inner.load(id).await
    }
    async fn save(&self, id: &SessionId, r: &Record, e: Expected) -> Result<Saved, Error> {
        self.inner.save(id, r, e).await
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
}

/// Flips one character of a cookie's signature.
fn tamper(cookie: &str) -> String {
    let mut bytes = cookie.as_bytes().to_vec();
    let at = bytes.len() - 3;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

// A current-thread runtime (the default of `tokio::test`): every task runs on this thread, so
// this thread's buffer receives every event of the test.
#[tokio::test]
async fn logging_sessions_life_cycle_never_shows_an_id_a_cookie_or_the_key() {
    capture_logs();
    let captured = Captured::default();
    CAPTURE.with(|capture| *capture.borrow_mut() = Some(captured.clone()));

    let mut secrets: Vec<String> = vec![KEY.to_owned()];
    let store = Arc::new(Corruptible {
        inner: MemoryStore::new(100),
        corrupt: AtomicBool::new(false),
    });
    let server = app(Storage::Store(store.clone()), base());
    // Create, read, update, renew the id.
    let created = send(&server, "/put/user/ada", None).await;
    let read = send(&server, "/all", Some(&created.cookie())).await;
    assert_eq!(read.data().get("user"), Some(&json!("ada")));
    send(&server, "/put/n/2", Some(&created.cookie())).await;
    let login = send(&server, "/login/ada", Some(&created.cookie())).await;
    for reply in [&created, &login] {
        secrets.push(reply.value());
        secrets.push(id_of(&reply.value()).expose().to_owned());
    }
    // A tampered cookie.
    let tampered = tamper(&login.cookie());
    secrets.push(tampered.split_once('=').unwrap().1.to_owned());
    assert!(send(&server, "/all", Some(&tampered))
        .await
        .data()
        .is_empty());
    // A corrupt record.
    store.corrupt.store(true, Ordering::SeqCst);
    let corrupt = send(&server, "/all", Some(&login.cookie())).await;
    assert_eq!(corrupt.status, 200);
    assert!(corrupt.data().is_empty());
    store.corrupt.store(false, Ordering::SeqCst);
    // Flush.
    send(&server, "/logout", Some(&login.cookie())).await;

    // Cookie sessions: the value carries the data, signed or sealed with the key.
    for format in [CookieFormat::Signed, CookieFormat::Encrypted] {
        let cookies = app(Storage::Cookie(format), base());
        let set = send(&cookies, "/put/user/ada", None).await;
        secrets.push(set.value());
        let tampered = tamper(&set.cookie());
        secrets.push(tampered.split_once('=').unwrap().1.to_owned());
        assert!(send(&cookies, "/all", Some(&tampered))
            .await
            .data()
            .is_empty());
    }
    // An id written by `Display` or `Debug`, as log fields do, is its hash.
    let id = id_of(&login.value());
    tracing::info!(session = %id, debug = ?id, "an id as a log field");

    let text = captured.text();
    // The capture works: the refusals and the corrupt record were logged.
    assert!(text.contains("refused the session cookie"), "{text}");
    assert!(text.contains("starting a fresh session"), "{text}");
    assert!(text.contains("an id as a log field"), "{text}");
    assert!(text.contains(&id.log_tag()), "{text}");
    for secret in &secrets {
        assert!(secret.len() >= 16, "{secret}");
        assert!(
            !text.contains(secret.as_str()),
            "{secret} is in the logs:\n{text}"
        );
    }
}

// --- "Session ID name fingerprinting" / robustness of cookie parsing ------------------------

async fn assert_fresh_not_failed(app: &Router, cookie: HeaderValue, label: &str) {
    let shown = String::from_utf8_lossy(cookie.as_bytes())
        .chars()
        .take(60)
        .collect::<String>();
    for uri in ["/all", "/put/k/v"] {
        let reply = send_raw(app, uri, Some(cookie.clone())).await;
        assert!(
            reply.status.is_success() || reply.status.is_client_error(),
            "{label} {uri} {shown:?}: {}",
            reply.status
        );
        if uri == "/all" && reply.status.is_success() {
            assert!(reply.data().is_empty(), "{label} {shown:?}");
        }
        if uri == "/put/k/v" && reply.status.is_success() {
            assert_eq!(reply.set_cookie.len(), 1, "{label} {shown:?}");
            let fresh = reply.value();
            assert!(
                !String::from_utf8_lossy(cookie.as_bytes()).contains(&fresh),
                "{label}: a new value, not one sent"
            );
        }
    }
}

#[tokio::test]
async fn abusive_cookie_headers_give_a_fresh_session_never_a_500() {
    let (store_app, _) = memory_app(base());
    let cookie_app = app(Storage::Cookie(CookieFormat::Signed), base());
    for (label, app) in [("memory", &store_app), ("cookie", &cookie_app)] {
        let valid = send(app, "/put/user/ada", None).await.cookie();
        let many = (0..100)
            .map(|i| format!("session=forged{i}"))
            .collect::<Vec<_>>()
            .join("; ");
        let big = format!("session={}", "A".repeat(8 * 1024));
        let big_other = format!("other={}; session=x", "A".repeat(8 * 1024));
        let cases: Vec<(&str, HeaderValue)> = vec![
            ("100 cookies", HeaderValue::from_str(&many).unwrap()),
            ("8 KB value", HeaderValue::from_str(&big).unwrap()),
            ("8 KB other", HeaderValue::from_str(&big_other).unwrap()),
            (
                "utf-8",
                HeaderValue::from_bytes(b"session=\xff\xfe\x80").unwrap(),
            ),
            (
                "utf-8 name",
                HeaderValue::from_bytes(b"sess\xffion=a; session\xff=b").unwrap(),
            ),
            ("percent", HeaderValue::from_static("session=%zz%")),
            ("percent 2", HeaderValue::from_static("session=%E2%82%")),
            ("percent 3", HeaderValue::from_static("session=%00%0d%0a")),
            ("quotes", HeaderValue::from_static("session=\"\"\"")),
            ("no value", HeaderValue::from_static("session")),
            ("empty", HeaderValue::from_static("session=")),
            ("separators", HeaderValue::from_static(";;;=;=;session==;")),
            (
                "dots",
                HeaderValue::from_static("session=....................."),
            ),
        ];
        for (case, cookie) in cases {
            assert_fresh_not_failed(app, cookie, &format!("{label} {case}")).await;
        }
        // Many Cookie headers (HTTP/2 splits them), 100 of our name.
        let mut req = Request::get("/put/k/v").body(Body::empty()).unwrap();
        for i in 0..100 {
            req.headers_mut().append(
                COOKIE,
                HeaderValue::from_str(&format!("session=forged{i}")).unwrap(),
            );
        }
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), 200, "{label}");

        // Duplicates: the first cookie of the name wins (browsers send the most specific path
        // first), whatever follows; a bad first one is a fresh session.
        let (_, value) = valid.split_once('=').unwrap();
        let first = format!("{valid}; {many}");
        let reply = send(app, "/all", Some(&first)).await;
        assert_eq!(reply.data().get("user"), Some(&json!("ada")), "{label}");
        let last = format!("{many}; {valid}");
        assert!(
            send(app, "/all", Some(&last)).await.data().is_empty(),
            "{label}"
        );
        // Ours found after other applications' cookies, large or not UTF-8.
        let mut after = format!("other={}; ", "B".repeat(8 * 1024)).into_bytes();
        after.extend_from_slice(b"theme=caf\xe9; session=");
        after.extend_from_slice(value.as_bytes());
        let reply = send_raw(app, "/all", Some(HeaderValue::from_bytes(&after).unwrap())).await;
        assert_eq!(reply.data().get("user"), Some(&json!("ada")), "{label}");
    }
}

// --- "Session ID entropy" and "Session ID length" -----------------------------------------

/// How often each byte appears at each position of `n` ids from `generate` (all `len` long),
/// after checking there is no duplicate among them.
///
/// Duplicates are looked for among the first 16 characters of each id (as a `u128`): no
/// allocation per id and one sort of integers, which keeps this fast in debug builds. Those
/// carry 96 random bits in a native id and 82 in a Django one, so distinct ids share them by
/// chance with probability n^2 / 2^97 < 1e-17 (a million native ids) or n^2 / 2^83 < 1e-15
/// (100,000 Django ids): a failure here is a real duplicate or a broken generator.
fn survey(n: usize, len: usize, mut generate: impl FnMut() -> SessionId) -> Vec<[u64; 256]> {
    let mut counts = vec![[0u64; 256]; len];
    let mut prefixes = Vec::with_capacity(n);
    for _ in 0..n {
        let id = generate();
        let bytes = id.expose().as_bytes();
        assert_eq!(bytes.len(), len, "{id:?} is not {len} long");
        for (position, &b) in bytes.iter().enumerate() {
            counts[position][usize::from(b)] += 1;
        }
        let mut prefix = [0u8; 16];
        prefix.copy_from_slice(&bytes[..16]);
        prefixes.push(u128::from_be_bytes(prefix));
    }
    prefixes.sort_unstable();
    let duplicates = prefixes.windows(2).filter(|w| w[0] == w[1]).count();
    assert_eq!(duplicates, 0, "duplicate ids among {n}");
    counts
}

/// Pearson's chi-square statistic of `counts` against a uniform distribution over its cells.
fn chi_square(counts: &[u64]) -> f64 {
    let samples: u64 = counts.iter().sum();
    let expected = samples as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&n| (n as f64 - expected).powi(2) / expected)
        .sum()
}

/// Checks each position holds only `alphabet`'s symbols, exactly `cells_at(position)` of them;
/// returns the bits the ids carry (the sum over positions of log2(symbols a position takes))
/// and the positions whose distribution is not uniform (chi-square at or over [`bound`]).
fn check_positions(
    counts: &[[u64; 256]],
    alphabet: &[u8],
    cells_at: impl Fn(usize) -> usize,
) -> (f64, Vec<String>) {
    let mut bits = 0.0;
    let mut skewed = Vec::new();
    for (position, counts) in counts.iter().enumerate() {
        for (b, &n) in counts.iter().enumerate() {
            assert!(
                n == 0 || alphabet.contains(&(b as u8)),
                "byte {b} at {position}"
            );
        }
        let seen: Vec<u64> = counts.iter().copied().filter(|&n| n > 0).collect();
        let cells = cells_at(position);
        assert_eq!(seen.len(), cells, "symbols seen at position {position}");
        let statistic = chi_square(&seen);
        if statistic >= bound(cells) {
            skewed.push(format!(
                "position {position}: chi-square {statistic:.1} over {cells} cells"
            ));
        }
        bits += (cells as f64).log2();
    }
    (bits, skewed)
}

// A position fails when its chi-square statistic exceeds the value a uniform source exceeds
// with probability about 1e-11 (upper tail, from mpmath's regularised incomplete gamma): 170
// for 63 degrees of freedom (P = 9.0e-12), 85 for 15 (P = 8.4e-12), 125 for 35 (P = 4.9e-12).
// Over the 43 native and 32 Django positions, the chance that a correct CSPRNG fails is at
// most 42 * 9.0e-12 + 8.4e-12 + 32 * 4.9e-12 = 5.4e-10, below 1e-9. What it can see: with a
// million native ids (15,625 expected per symbol), one symbol made about 10% more likely at
// one position (1,620 extra) alone reaches 170; a smaller bias may pass.
// `session_id_entropy_the_check_catches_a_biased_generator` shows the check failing.
fn bound(cells: usize) -> f64 {
    match cells {
        64 => 170.0,
        16 => 85.0,
        36 => 125.0,
        _ => unreachable!("no bound for {cells} cells"),
    }
}

#[test]
fn session_id_entropy_native_ids_are_256_uniform_bits() {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let counts = survey(1_000_000, 43, || SessionId::generate().unwrap());
    // 43 characters of base64: 42 carry 6 bits each, the last one 4 (256 = 42 * 6 + 4), so it
    // takes 16 of the 64 symbols.
    let (bits, skewed) = check_positions(&counts, alphabet, |p| if p == 42 { 16 } else { 64 });
    assert!(skewed.is_empty(), "{skewed:?}");
    assert!(bits >= 128.0, "{bits} bits");
    assert_eq!(bits, 256.0);
}

#[test]
fn session_id_entropy_django_ids_are_uniform_over_a_z_0_9_and_at_least_128_bits() {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let counts = survey(100_000, 32, || Profile::Django.generate_id().unwrap());
    // 32 characters of 36 symbols: 32 * log2(36) = 165.4 bits.
    let (bits, skewed) = check_positions(&counts, alphabet, |_| 36);
    assert!(skewed.is_empty(), "{skewed:?}");
    assert!(bits >= 128.0, "{bits} bits");
}

#[test]
fn session_id_entropy_the_check_catches_a_biased_generator() {
    // The same check over 100,000 ids of which one in 150 is forced to start with `A` (656
    // more than the 1,562 expected, a chi-square near 280) fails: the check can fail. (Fewer
    // ids than above, to keep the test fast; the bias is larger in proportion.)
    let mut i = 0u64;
    let counts = survey(100_000, 43, || {
        i += 1;
        let id = SessionId::generate().unwrap();
        if i.is_multiple_of(150) {
            SessionId::parse(&format!("A{}", &id.expose()[1..])).unwrap()
        } else {
            id
        }
    });
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let (_, skewed) = check_positions(&counts, alphabet, |p| if p == 42 { 16 } else { 64 });
    assert_eq!(skewed.len(), 1, "{skewed:?}");
    assert!(skewed[0].starts_with("position 0:"), "{skewed:?}");
}
