//! Fault tests: a store's server is frozen, killed and restarted under a running app.
//!
//! Each test starts its own server on a spare loopback port (Redis on 6390, memcached on
//! 11212; never the shared ones), then shows that requests get a clear `503` within the
//! configured timeout while the server is gone, that nothing panics, and that service
//! resumes by itself once the server is back. The measured times are printed (run with
//! `--nocapture` to see them).
#![cfg(all(
    feature = "redis",
    feature = "memcached",
    feature = "axum",
    feature = "conformance"
))]
#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::header::{COOKIE, SET_COOKIE};
use http::{Request, StatusCode};
use tessera::conformance::server_or_skip;
use tessera::{Session, SessionConfig, SessionLayer};
use tower::ServiceExt;

const SECRET: &str = "fault-tests-secret-key-0123456789abcdef";

const TIMEOUT: Duration = Duration::from_millis(500);
/// How long a request may take past the timeout (scheduling on a busy 2-core machine).
const SLACK: Duration = Duration::from_millis(400);

/// A server process the test owns; killed when dropped.
struct Server {
    child: Option<Child>,
    start: Box<dyn Fn() -> std::io::Result<Child> + Send>,
    port: u16,
}

impl Server {
    fn start(
        port: u16,
        start: impl Fn() -> std::io::Result<Child> + Send + 'static,
    ) -> std::io::Result<Self> {
        let child = start()?;
        let server = Self {
            child: Some(child),
            start: Box::new(start),
            port,
        };
        server.wait_until_listening()?;
        Ok(server)
    }

    fn wait_until_listening(&self) -> std::io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn pid(&self) -> String {
        self.child.as_ref().unwrap().id().to_string()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid()])
            .status()
            .unwrap();
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
        self.child = Some((self.start)().unwrap());
        self.wait_until_listening().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A frozen process must be thawed to die cleanly.
            let _ = Command::new("kill").args(["-CONT", &self.pid()]).status();
        }
        self.kill();
    }
}

fn app(layer: SessionLayer) -> Router {
    Router::new()
        .route(
            "/set/{key}",
            get(|s: Session, Path(key): Path<String>| async move {
                s.insert(&key, true).unwrap();
            }),
        )
        .route("/keys", get(|s: Session| async move { s.keys().join(",") }))
        .route(
            "/put",
            get(|s: Session| async move {
                s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).unwrap();
            }),
        )
        .layer(layer)
}

/// One request; the status and how long it took.
async fn put(app: &Router, cookie: Option<&str>) -> (StatusCode, Option<String>, Duration) {
    let mut req = Request::get("/put");
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    let started = Instant::now();
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let took = started.elapsed();
    let cookie = res
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    (res.status(), cookie, took)
}

/// Requests until one succeeds; the time it took (bounded).
async fn recovery(app: &Router, since: Instant) -> Duration {
    let deadline = since + Duration::from_secs(20);
    loop {
        let (status, _, _) = put(app, None).await;
        if status == StatusCode::OK {
            return since.elapsed();
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            Instant::now() < deadline,
            "service did not resume within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every request while the server is away: 503, within the timeout.
async fn all_unavailable(app: &Router, cookie: &str, what: &str) -> Duration {
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let (status, _, took) = put(app, Some(cookie)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert!(
            took <= TIMEOUT * 2 + SLACK,
            "{what}: a request took {took:?}"
        );
        worst = worst.max(took);
    }
    worst
}

async fn exercise(name: &str, url: &str, mut server: Server) {
    let config = SessionConfig::builder()
        .secret_key(SECRET)
        .url(url)
        .store_timeout(TIMEOUT)
        .build()
        .unwrap();
    let app = app(SessionLayer::from_config(config).await.unwrap());
    let (status, cookie, _) = put(&app, None).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = cookie.unwrap();

    // Frozen: connections stay open but nothing answers, so every operation runs into the
    // timeout.
    server.signal("-STOP");
    let frozen = all_unavailable(&app, &cookie, "frozen server").await;
    server.signal("-CONT");
    let thawed = recovery(&app, Instant::now()).await;

    // Killed: connections break and reconnecting is refused.
    server.kill();
    let killed = all_unavailable(&app, &cookie, "stopped server").await;
    let restarted_at = Instant::now();
    server.restart();
    let listening = restarted_at.elapsed();
    let back = recovery(&app, restarted_at).await;
    eprintln!(
        "{name}: timeout {TIMEOUT:?}; frozen server: slowest 503 after {frozen:?}, served again {thawed:?} after thawing; \
         killed server: slowest 503 after {killed:?}; restarted and listening after {listening:?}, \
         first success {back:?} after the restart ({:?} after it listened)",
        back.saturating_sub(listening)
    );
}

fn spawn(program: &str, args: &[&str]) -> std::io::Result<Child> {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage() {
    let server = server_or_skip(
        "redis-server (the binary) for a private server on 6390",
        Server::start(6390, || {
            spawn(
                "redis-server",
                &[
                    "--port",
                    "6390",
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
            )
        }),
    );
    let Some(server) = server else { return };
    exercise("redis", "redis://127.0.0.1:6390", server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_outage() {
    let user = if Command::new("id")
        .arg("memcache")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        "memcache"
    } else {
        "nobody"
    };
    let server = server_or_skip(
        "memcached (the binary, from scripts/services/memcached.sh) for a private server on 11212",
        Server::start(11212, move || {
            spawn(
                "memcached",
                &["-p", "11212", "-l", "127.0.0.1", "-u", user, "-m", "16"],
            )
        }),
    );
    let Some(server) = server else { return };
    exercise("memcached", "memcached://127.0.0.1:11212", server).await;
}

/// A request to `uri` with `cookie`; the status, body and how long it took.
async fn get_with(app: &Router, uri: &str, cookie: &str) -> (StatusCode, String, Duration) {
    let req = Request::get(uri).header(COOKIE, cookie);
    let started = Instant::now();
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let took = started.elapsed();
    let status = res.status();
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), took)
}

/// A cache in front of a database: losing the cache costs time, never a request or an update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_outage_degrades_to_the_database() {
    let server = server_or_skip(
        "redis-server (the binary) for a private cache on 6391",
        Server::start(6391, || {
            spawn(
                "redis-server",
                &[
                    "--port",
                    "6391",
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
            )
        }),
    );
    let Some(mut server) = server else { return };
    let dir = std::env::temp_dir().join(format!("tessera-faults-{}", std::process::id()));
    let config = SessionConfig::builder()
        .secret_key(SECRET)
        .url(format!("file://{}", dir.display()))
        .cache_url("redis://127.0.0.1:6391")
        .store_timeout(TIMEOUT)
        .build()
        .unwrap();
    let app = app(SessionLayer::from_config(config).await.unwrap());
    let (status, cookie, _) = put(&app, None).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = cookie.unwrap();
    let mut keys = vec!["n".to_owned()];
    let mut slowest = Duration::ZERO;
    let phases = [
        "up", "freeze", "frozen", "thaw", "kill", "killed", "restart", "back",
    ];
    for (i, phase) in phases.into_iter().enumerate() {
        match phase {
            "freeze" => server.signal("-STOP"),
            "thaw" => server.signal("-CONT"),
            "kill" => server.kill(),
            "restart" => server.restart(),
            _ => {}
        }
        let key = format!("{phase}{i}");
        let (status, _, took) = get_with(&app, &format!("/set/{key}"), &cookie).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{phase}: the cache failure reached the request"
        );
        keys.push(key);
        if matches!(phase, "freeze" | "frozen" | "kill" | "killed") {
            slowest = slowest.max(took);
        }
    }
    let (status, body, _) = get_with(&app, "/keys", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    let mut stored: Vec<&str> = body.split(',').collect();
    stored.sort_unstable();
    let mut expected: Vec<&str> = keys.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(
        stored, expected,
        "an update was lost across the cache outage"
    );
    eprintln!("cached_db (redis over file): cache down, slowest request {slowest:?} (timeout {TIMEOUT:?}); every request served, no update lost");
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
