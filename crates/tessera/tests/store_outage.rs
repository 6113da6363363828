//! What a store outage at load means for a request: a private Redis (on 6393, never the shared
//! one) is killed, frozen and restarted under an app served over HTTP.
//!
//! By default the request gets `503`. With `StoreOutage::Anonymous` the handler gets an empty,
//! read-only session, the response leaves the client's cookie alone, a write is refused with
//! `503` without reaching the store, and the user's session is found again once the store is
//! back (the server keeps an append-only file, so its data survives the restart).
#![cfg(all(feature = "redis", feature = "axum", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use http::header::{COOKIE, SET_COOKIE, VARY};
use http::{HeaderValue, StatusCode};
use tessera::config::{SessionConfigBuilder, StoreOutage};
use tessera::conformance::server_or_skip;
use tessera::middleware::SaveFailure;
use tessera::{LazySession, Session, SessionConfig, SessionError, SessionLayer};

const SECRET: &str = "store-outage-tests-secret-0123456789abcdef";
const PORT: &str = "6393";
const URL: &str = "redis://127.0.0.1:6393";
const TIMEOUT: Duration = Duration::from_millis(300);
/// How long a request may take past the timeout (scheduling on a busy 2-core machine).
const SLACK: Duration = Duration::from_millis(400);
/// How long `/write-later` waits before writing: time for the test to act on the server.
const HANDLER_PAUSE: Duration = Duration::from_millis(1500);

/// The tests share one port, so they take turns.
static PORT_IN_USE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What tessera logged at `WARN` and above, from every thread (the app runs on several).
static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the global subscriber, once, before any app of this file is built (see
/// `tests/owasp.rs` for why it is global).
fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

/// The lines logged since the last call.
fn take_logs() -> String {
    String::from_utf8(std::mem::take(&mut *LOGS.lock().unwrap())).unwrap()
}

/// A private redis-server keeping its data in an append-only file in a directory of its own;
/// killed and its directory removed when dropped.
struct Redis {
    child: Option<Child>,
    dir: PathBuf,
}

impl Redis {
    fn start(name: &str) -> std::io::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("tessera-outage-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let mut redis = Self { child: None, dir };
        redis.spawn()?;
        Ok(redis)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", PORT, "--bind", "127.0.0.1", "--save", ""])
            // Every write reaches the file before the reply, so a killed server keeps it.
            .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match std::net::TcpStream::connect(("127.0.0.1", 6393)) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success(), "kill {signal} failed");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        self.spawn().unwrap();
    }

    /// How many keys the server holds, asked over a connection of its own.
    async fn keys(&self) -> u64 {
        let client = redis::Client::open(URL).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A frozen process must be thawed to die cleanly.
            self.signal("-CONT");
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn redis_or_skip(name: &str) -> Option<Redis> {
    server_or_skip(
        "redis-server (the binary) for a private server on 6393",
        Redis::start(name),
    )
}

/// `user|store_unavailable|number of keys`.
fn describe(session: &Session) -> String {
    let user: Option<String> = session.get("user").unwrap();
    format!(
        "{}|{}|{}",
        user.as_deref().unwrap_or("anonymous"),
        session.store_unavailable(),
        session.len()
    )
}

/// The [`SaveFailure`] of a replaced response, as a header the client can see.
async fn expose_failure(mut response: Response) -> Response {
    let label = response
        .extensions()
        .get::<SaveFailure>()
        .map(|failure| match failure.error() {
            SessionError::ReadOnly(source) => format!("read-only: {source}"),
            SessionError::Store(error) => format!("store: {error}"),
            other => format!("other: {other}"),
        });
    if let Some(label) = label {
        response
            .headers_mut()
            .insert("x-save-failure", HeaderValue::from_str(&label).unwrap());
    }
    response
}

fn app(layer: SessionLayer) -> Router {
    Router::new()
        .route(
            "/login",
            get(|s: Session| async move { s.insert("user", "ada").unwrap() }),
        )
        .route("/whoami", get(|s: Session| async move { describe(&s) }))
        .route(
            "/lazy",
            get(|req: Request| async move {
                let lazy = req.extensions().get::<LazySession>().unwrap();
                let session = lazy.load(req.headers()).await?;
                Ok::<_, SessionError>(describe(&session))
            }),
        )
        .route(
            "/write",
            get(|s: Session| async move {
                s.insert("n", 1).unwrap();
                "written"
            }),
        )
        .route(
            "/logout",
            get(|s: Session| async move {
                s.remove::<String>("user").unwrap();
                "bye"
            }),
        )
        .route(
            "/write-later",
            get(|s: Session| async move {
                tokio::time::sleep(HANDLER_PAUSE).await;
                s.insert("n", 1).unwrap();
                "written"
            }),
        )
        .layer(layer)
        .layer(axum::middleware::map_response(expose_failure))
}

fn config(outage: StoreOutage) -> SessionConfig {
    SessionConfig::builder()
        .secret_key(SECRET)
        .url(URL)
        .store_timeout(TIMEOUT)
        .store_outage(outage)
        .build()
        .unwrap()
}

/// The app served on a loopback port; its base URL.
async fn serve(outage: StoreOutage) -> String {
    capture_logs();
    let layer = SessionLayer::from_config(config(outage)).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app(layer)).await.unwrap() });
    format!("http://{addr}")
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    body: String,
    set_cookie: Option<String>,
    varies_on_cookie: bool,
    failure: Option<String>,
    took: Duration,
}

async fn get_from(base: &str, path: &str, cookie: Option<&str>) -> Reply {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut req = client.get(format!("{base}{path}"));
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    let started = Instant::now();
    let res = req.send().await.unwrap();
    let took = started.elapsed();
    let headers = res.headers().clone();
    let text = |name| {
        headers
            .get(name)
            .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
    };
    Reply {
        status: res.status(),
        set_cookie: text(SET_COOKIE.as_str()),
        varies_on_cookie: headers
            .get_all(VARY)
            .iter()
            .any(|v| v.to_str().unwrap().to_ascii_lowercase().contains("cookie")),
        failure: text("x-save-failure"),
        took,
        body: res.text().await.unwrap(),
    }
}

/// Logs in; the cookie to send back (`name=value`).
async fn login(base: &str) -> String {
    let reply = get_from(base, "/login", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let set_cookie = reply.set_cookie.expect("a login sets the cookie");
    set_cookie.split(';').next().unwrap().to_owned()
}

/// Asks `/whoami` until the session is the stored one again; that reply.
async fn until_back(base: &str, cookie: &str) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = get_from(base, "/whoami", Some(cookie)).await;
        if reply.status == StatusCode::OK && !reply.body.ends_with("|true|0") {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "the session did not come back within 20 s: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_store_outage_is_503() {
    let _turn = PORT_IN_USE.lock().await;
    let Some(mut redis) = redis_or_skip("default") else {
        return;
    };
    let base = serve(StoreOutage::default()).await;
    let cookie = login(&base).await;
    redis.kill();
    for path in ["/whoami", "/lazy", "/write"] {
        let reply = get_from(&base, path, Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(reply.set_cookie, None, "{path}");
    }
    // A request without a cookie needs no store to start a session.
    let fresh = get_from(&base, "/whoami", None).await;
    assert_eq!(
        (fresh.status, fresh.body.as_str()),
        (StatusCode::OK, "anonymous|false|0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_mode_keeps_the_cookie_and_refuses_writes_until_the_store_is_back() {
    let _turn = PORT_IN_USE.lock().await;
    let Some(mut redis) = redis_or_skip("killed") else {
        return;
    };
    let base = serve(StoreOutage::Anonymous).await;
    let cookie = login(&base).await;
    assert_eq!(
        get_from(&base, "/whoami", Some(&cookie)).await.body,
        "ada|false|1"
    );
    redis.kill();

    take_logs();
    let reply = get_from(&base, "/whoami", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let logs = take_logs();
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("could not load the session"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning per request: {logs}");
    let (_, value) = cookie.split_once('=').unwrap();
    let id = value.split('.').next().unwrap();
    let tag = tessera::SessionId::parse(id).unwrap().log_tag();
    assert!(
        warnings[0].contains(" WARN ")
            && warnings[0].contains("the session store is unavailable during load: ")
            && warnings[0].contains(&tag),
        "the warning names the cause and the id's tag: {logs}"
    );
    assert!(!logs.contains(id), "the id is never logged: {logs}");

    for path in ["/whoami", "/lazy"] {
        let reply = get_from(&base, path, Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {reply:?}");
        assert_eq!(reply.body, "anonymous|true|0", "{path}");
        assert_eq!(reply.set_cookie, None, "{path}: the cookie is left alone");
        assert!(reply.varies_on_cookie, "{path}: {reply:?}");
        assert_eq!(reply.failure, None, "{path}");
    }
    // Writing, and a logout that removes a key the session could not load: refused.
    for path in ["/write", "/logout"] {
        let reply = get_from(&base, path, Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(reply.body, "", "{path}: the handler's body is replaced");
        assert_eq!(reply.set_cookie, None, "{path}: the cookie is not removed");
        let failure = reply.failure.unwrap_or_default();
        assert!(
            failure.starts_with("read-only: the session store is unavailable during load"),
            "{path}: {failure}"
        );
    }
    // Without a cookie there is nothing to load: an ordinary new session.
    let fresh = get_from(&base, "/whoami", None).await;
    assert_eq!(
        (fresh.status, fresh.body.as_str()),
        (StatusCode::OK, "anonymous|false|0")
    );

    redis.restart();
    let back = until_back(&base, &cookie).await;
    assert_eq!(
        back.body, "ada|false|1",
        "the same cookie finds the session"
    );
    assert_eq!(back.set_cookie, None);
    let write = get_from(&base, "/write", Some(&cookie)).await;
    assert_eq!(write.status, StatusCode::OK, "{write:?}");
    assert_eq!(
        get_from(&base, "/whoami", Some(&cookie)).await.body,
        "ada|false|2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_store_gives_the_anonymous_session_within_the_timeout() {
    let _turn = PORT_IN_USE.lock().await;
    let Some(redis) = redis_or_skip("frozen") else {
        return;
    };
    let base = serve(StoreOutage::Anonymous).await;
    let cookie = login(&base).await;
    redis.signal("-STOP");
    let read = get_from(&base, "/whoami", Some(&cookie)).await;
    // The write waits for the load's timeout only: no save is tried after it.
    let write = get_from(&base, "/write", Some(&cookie)).await;
    redis.signal("-CONT");
    eprintln!(
        "frozen redis, timeout {TIMEOUT:?}: read-only request answered in {:?}, writing one in {:?}",
        read.took, write.took
    );
    assert_eq!(
        (read.status, read.body.as_str()),
        (StatusCode::OK, "anonymous|true|0")
    );
    assert_eq!(read.set_cookie, None);
    assert!(read.took >= TIMEOUT, "{:?}", read.took);
    assert!(read.took <= TIMEOUT + SLACK, "{:?}", read.took);
    assert_eq!(write.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        write
            .failure
            .as_deref()
            .unwrap_or_default()
            .starts_with("read-only: the session store did not answer load within"),
        "{write:?}"
    );
    assert!(write.took <= TIMEOUT + SLACK, "{:?}", write.took);
    assert_eq!(until_back(&base, &cookie).await.body, "ada|false|1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_refused_after_a_failed_load_never_reaches_the_store() {
    let _turn = PORT_IN_USE.lock().await;
    let Some(redis) = redis_or_skip("refused") else {
        return;
    };
    let base = serve(StoreOutage::Anonymous).await;
    let cookie = login(&base).await;
    assert_eq!(redis.keys().await, 1);
    redis.signal("-STOP");
    let request = tokio::spawn({
        let (base, cookie) = (base.clone(), cookie.clone());
        async move { get_from(&base, "/write-later", Some(&cookie)).await }
    });
    // The load has timed out; the store is back well before the handler writes, so a save
    // would succeed if one were tried.
    tokio::time::sleep(TIMEOUT + Duration::from_millis(600)).await;
    redis.signal("-CONT");
    let reply = request.await.unwrap();
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert!(
        reply
            .failure
            .as_deref()
            .unwrap_or_default()
            .starts_with("read-only: "),
        "{reply:?}"
    );
    assert_eq!(reply.set_cookie, None);
    assert_eq!(redis.keys().await, 1, "nothing was written");
    assert_eq!(
        get_from(&base, "/whoami", Some(&cookie)).await.body,
        "ada|false|1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_failing_after_a_good_load_is_still_503() {
    let _turn = PORT_IN_USE.lock().await;
    let Some(mut redis) = redis_or_skip("save") else {
        return;
    };
    let base = serve(StoreOutage::Anonymous).await;
    let cookie = login(&base).await;
    let request = tokio::spawn({
        let (base, cookie) = (base.clone(), cookie.clone());
        async move { get_from(&base, "/write-later", Some(&cookie)).await }
    });
    // The session is loaded at once; the store goes while the handler waits.
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.kill();
    let reply = request.await.unwrap();
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert!(
        reply
            .failure
            .as_deref()
            .unwrap_or_default()
            .starts_with("store: "),
        "the save failed, not the load: {reply:?}"
    );
    assert_eq!(reply.set_cookie, None);
}

#[test]
fn the_mode_is_read_from_session_store_outage() {
    let with = |value: &'static str| {
        SessionConfigBuilder::from_lookup(move |name| {
            (name == "SESSION_STORE_OUTAGE").then(|| value.to_owned())
        })
        .and_then(SessionConfigBuilder::build)
    };
    assert_eq!(
        with("anonymous").unwrap().store_outage(),
        StoreOutage::Anonymous
    );
    assert_eq!(
        with("Unavailable").unwrap().store_outage(),
        StoreOutage::Unavailable
    );
    assert_eq!(
        with("").unwrap().store_outage(),
        StoreOutage::Unavailable,
        "empty is unset"
    );
    let error = with("degraded").unwrap_err().to_string();
    assert!(error.starts_with("SESSION_STORE_OUTAGE: "), "{error}");
    assert!(error.contains("anonymous"), "{error}");
}
