//! Faults under load: the demo binary over a store server of the test's own, driven by
//! [`tessera_demo::load`] with many clients each counting in its own session, while the server
//! is killed with -9 and restarted, frozen with SIGSTOP past the store timeout and thawed, and
//! cut off by a proxy that drops every connection and refuses new ones; then, through the same
//! proxy, a store slower than the store timeout for a minute.
//!
//! Each run prints its figures (run with `--nocapture`), the ones RELIABILITY.md reports, and
//! asserts what the figures must show: only `200` and `503` answers, every request answered
//! within the bound the store timeout sets, service back by itself once the server is, no
//! acknowledged count lost on a server that kept its data and sessions cleanly gone (a fresh
//! session, never a lower count) on one that lost it, and no pile-up behind a slow store.
#![allow(clippy::unwrap_used)]

mod proxy;
mod servers;
#[path = "../support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proxy::{Mode, Proxy};
use servers::{Kind, Server};
use support::{free_port, Demo};
use tessera::conformance::server_or_skip;
use tessera_demo::load::{self, Outcome, Plan, Report, Stop};

const KEY: &str = "demo-reliability-secret-key-0123456789abcdef";
/// `SESSION_STORE_TIMEOUT_MS` of the demo under test.
const TIMEOUT: Duration = Duration::from_millis(500);
/// What a request may take beyond two store timeouts (a load and a save, each bounded) on a
/// busy 2-core machine running the load, the demo and the server at once.
const MARGIN: Duration = Duration::from_millis(500);
const CLIENTS: usize = 24;

/// One test at a time: each loads the whole machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The demo on a free port, its log in a file.
struct RunningDemo {
    _demo: Demo,
    pid: u32,
    base: String,
    log: PathBuf,
}

async fn start_demo(store: &str, name: &str) -> RunningDemo {
    let port = free_port();
    let log = std::env::temp_dir().join(format!(
        "tessera-reliability-{name}-{}.log",
        std::process::id()
    ));
    let child = Command::new(env!("CARGO_BIN_EXE_tessera-demo"))
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .env("SECRET_KEY", KEY)
        .env("SESSION_URL", store)
        .env("SESSION_STORE_TIMEOUT_MS", TIMEOUT.as_millis().to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut demo = Demo(child);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{base}/whoami")).await.is_err() {
        let exited = demo.0.try_wait().unwrap();
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "the demo on {store} did not start ({exited:?}): {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    RunningDemo {
        _demo: demo,
        pid,
        base,
        log,
    }
}

fn plan(base: &str) -> Plan {
    Plan::new(base)
        .unwrap()
        .clients(CLIENTS)
        .max_requests(2_000_000)
        .max_duration(Duration::from_secs(300))
        .request_timeout(Duration::from_secs(10))
}

/// Resident memory of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A fault's window, as offsets from the run's start.
struct Window {
    name: &'static str,
    from: Instant,
    back: Instant,
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Figures of one fault, printed and checked.
fn figures(store: Kind, report: &Report, window: &Window) -> String {
    let from = window.from.saturating_duration_since(report.started);
    let back = window.back.saturating_duration_since(report.started);
    let during: Vec<_> = report.sent_between(from, back).collect();
    let unavailable = during
        .iter()
        .filter(|s| s.outcome == Outcome::Status(503))
        .count();
    let p99 = load::percentile(during.iter().map(|s| s.latency), 99.0);
    let worst = during.iter().map(|s| s.latency).max().unwrap_or_default();
    let recovery = report
        .samples
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Counted(_)) && s.done() >= back)
        .map(|s| s.done() - back)
        .min();
    let bound = TIMEOUT * 2 + MARGIN;
    assert!(
        p99 <= bound,
        "{} {}: p99 {p99:?} during the fault, above {bound:?}",
        store.name(),
        window.name
    );
    let recovery = recovery.unwrap_or_else(|| {
        panic!(
            "{} {}: no request succeeded after the server came back",
            store.name(),
            window.name
        )
    });
    format!(
        "| {} | {} | {:.1} s | {} | {unavailable} | {} | {} | {} |",
        store.name(),
        window.name,
        (back - from).as_secs_f64(),
        during.len(),
        ms(p99),
        ms(worst),
        ms(recovery)
    )
}

/// What every run must show, whatever its faults.
async fn check_sessions(
    store: Kind,
    report: &Report,
    demo: &RunningDemo,
    lost_after: Option<Instant>,
) -> String {
    let name = store.name();
    let statuses: Vec<_> = report
        .samples
        .iter()
        .filter(|s| !matches!(s.outcome, Outcome::Counted(_) | Outcome::Status(503)))
        .map(|s| s.outcome)
        .collect();
    assert!(
        statuses.is_empty(),
        "{name}: answers other than 200 and 503: {} of them, e.g. {:?}",
        statuses.len(),
        &statuses[..statuses.len().min(5)]
    );
    let worst = report
        .samples
        .iter()
        .map(|s| s.latency)
        .max()
        .unwrap_or_default();
    assert!(
        worst <= TIMEOUT * 2 + MARGIN,
        "{name}: a request took {worst:?}"
    );
    let client = reqwest::Client::new();
    let mut fresh = 0;
    let mut ahead = 0;
    for (n, c) in report.clients.iter().enumerate() {
        assert!(
            c.regressions.is_empty(),
            "{name}: client {n} lost counts: {:?}",
            c.regressions
        );
        assert!(
            c.overcounts.is_empty(),
            "{name}: client {n} counted more than it sent: {:?}",
            c.overcounts
        );
        match lost_after {
            None => assert!(
                c.fresh_starts.is_empty(),
                "{name}: client {n}'s session was lost on a server that kept its data"
            ),
            Some(killed) => {
                let killed = killed.saturating_duration_since(report.started);
                assert!(
                    c.fresh_starts.len() <= 1,
                    "{name}: client {n} restarted twice"
                );
                assert!(
                    c.fresh_starts.iter().all(|&t| t >= killed),
                    "{name}: client {n} lost its session before the server did"
                );
            }
        }
        fresh += c.fresh_starts.len();
        let cookie = c.cookie.as_deref().unwrap();
        let body: serde_json::Value = client
            .get(format!("{}/count", demo.base))
            .header(reqwest::header::COOKIE, cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let stored = body["count"].as_u64().unwrap();
        assert!(
            stored >= c.acknowledged && stored <= c.sent,
            "{name}: client {n} stored {stored}, acknowledged {}, sent {}",
            c.acknowledged,
            c.sent
        );
        if stored > c.acknowledged {
            ahead += 1;
        }
    }
    let log = std::fs::read_to_string(&demo.log).unwrap();
    for bad in ["corrupt", "panicked"] {
        let lines: Vec<_> = log.lines().filter(|l| l.contains(bad)).take(3).collect();
        assert!(
            lines.is_empty(),
            "{name}: the demo logged {bad:?}: {lines:?}"
        );
    }
    format!(
        "{name}: {} requests, {} answered 200, {} answered 503; {} sessions, stored count = last acknowledged in {}, ahead of it (a save that reached the store, its answer did not) in {ahead}; {fresh} sessions started afresh after the server lost them",
        report.samples.len(),
        report.count_counted(),
        report.count(Outcome::Status(503)),
        report.clients.len(),
        report.clients.len() - ahead,
    )
}

fn start_server(kind: Kind) -> Option<Server> {
    let what = match kind {
        Kind::Redis => "redis-server (the binary) for a private Redis",
        Kind::Memcached => "memcached (the binary, from scripts/services/memcached.sh)",
        Kind::Postgres => {
            "PostgreSQL's initdb and postgres (the server's binaries) for a private cluster"
        }
    };
    server_or_skip(what, Server::start(kind, free_port()))
}

async fn pause(d: Duration) {
    tokio::time::sleep(d).await;
}

/// kill -9 and restart, SIGSTOP past the timeout and SIGCONT, connections dropped and
/// refused then restored, each under load.
async fn faults_under_load(kind: Kind) {
    let _serial = SERIAL.lock().await;
    let Some(mut server) = start_server(kind) else {
        return;
    };
    let proxy = Proxy::start(server.port).await.unwrap();
    let demo = start_demo(&kind.url(proxy.port), kind.name()).await;
    let stop = Stop::new();
    let run = tokio::spawn({
        let plan = plan(&demo.base);
        let stop = stop.clone();
        async move { load::run(&plan, &stop).await.unwrap() }
    });
    let mut windows = Vec::new();
    pause(Duration::from_secs(2)).await;

    let from = Instant::now();
    tokio::task::block_in_place(|| server.kill9());
    pause(Duration::from_secs(2)).await;
    tokio::task::block_in_place(|| server.restart());
    let killed = from;
    windows.push(Window {
        name: "kill -9, restart after 2 s",
        from,
        back: Instant::now(),
    });
    pause(Duration::from_secs(3)).await;

    let from = Instant::now();
    server.signal("-STOP");
    pause(TIMEOUT * 3).await;
    server.signal("-CONT");
    windows.push(Window {
        name: "SIGSTOP for 3 timeouts, SIGCONT",
        from,
        back: Instant::now(),
    });
    pause(Duration::from_secs(3)).await;

    let from = Instant::now();
    proxy.set(Mode::Refuse);
    pause(Duration::from_secs(2)).await;
    proxy.set(Mode::Pass);
    windows.push(Window {
        name: "connections dropped and refused for 2 s",
        from,
        back: Instant::now(),
    });
    pause(Duration::from_secs(3)).await;

    stop.stop();
    let report = run.await.unwrap();
    let rows: Vec<String> = windows.iter().map(|w| figures(kind, &report, w)).collect();
    let lost_after = (!kind.keeps_data()).then_some(killed);
    let summary = check_sessions(kind, &report, &demo, lost_after).await;
    eprintln!(
        "\n| store | fault | length | requests sent during it | answered 503 | p99 | slowest | first 200 after the server is back |\n|---|---|---:|---:|---:|---:|---:|---:|\n{}\n{summary}\n",
        rows.join("\n")
    );
}

/// A store slower than the store timeout for a minute (`TESSERA_SLOW_STORE_SECS`): every
/// request still answered within the bound, and no growth in held store traffic, store
/// connections or the demo's memory.
async fn slow_store(kind: Kind) {
    let _serial = SERIAL.lock().await;
    let Some(server) = start_server(kind) else {
        return;
    };
    let secs: u64 = std::env::var("TESSERA_SLOW_STORE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let delay = TIMEOUT + Duration::from_millis(300);
    let proxy = Proxy::start(server.port).await.unwrap();
    let demo = start_demo(&kind.url(proxy.port), kind.name()).await;
    let stop = Stop::new();
    let run = tokio::spawn({
        let plan = plan(&demo.base);
        let stop = stop.clone();
        async move { load::run(&plan, &stop).await.unwrap() }
    });
    pause(Duration::from_secs(2)).await;
    let rss_before = rss_kib(demo.pid);
    let slow_from = Instant::now();
    proxy.set(Mode::Delay(delay));
    let mut samples = Vec::new();
    for _ in 0..secs {
        pause(Duration::from_secs(1)).await;
        samples.push((rss_kib(demo.pid), proxy.held(), proxy.connections()));
    }
    proxy.set(Mode::Pass);
    let slow_to = Instant::now();
    pause(Duration::from_secs(3)).await;
    stop.stop();
    let report = run.await.unwrap();

    let name = kind.name();
    let third = (samples.len() / 3).max(1);
    let max_of = |part: &[(u64, usize, usize)], f: fn(&(u64, usize, usize)) -> u64| {
        part.iter().map(f).max().unwrap_or(0)
    };
    let (first, last) = (&samples[..third], &samples[samples.len() - third..]);
    let rss = |s: &(u64, usize, usize)| s.0;
    let held = |s: &(u64, usize, usize)| s.1 as u64;
    let conns = |s: &(u64, usize, usize)| s.2 as u64;
    let from = slow_from.saturating_duration_since(report.started);
    let to = slow_to.saturating_duration_since(report.started);
    let during: Vec<_> = report.sent_between(from, to).collect();
    let p99 = load::percentile(during.iter().map(|s| s.latency), 99.0);
    let worst = during.iter().map(|s| s.latency).max().unwrap_or_default();
    let ok = during
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Counted(_)))
        .count();
    eprintln!(
        "\n{name} slowed by {} each way ({}s, store timeout {}): {} requests, {ok} answered 200, p99 {}, slowest {}; \
         demo memory {} MiB before, at most {} MiB in the first third, {} MiB in the last; \
         chunks held in the proxy at most {} / {}; store connections at most {} / {} (first / last third)",
        ms(delay),
        secs,
        ms(TIMEOUT),
        during.len(),
        ms(p99),
        ms(worst),
        rss_before / 1024,
        max_of(first, rss) / 1024,
        max_of(last, rss) / 1024,
        max_of(first, held),
        max_of(last, held),
        max_of(first, conns),
        max_of(last, conns),
    );
    assert!(
        worst <= TIMEOUT * 2 + MARGIN,
        "{name}: a request took {worst:?} behind the slow store"
    );
    assert!(
        max_of(last, rss) <= max_of(first, rss) + 32 * 1024,
        "{name}: the demo's memory grew behind the slow store"
    );
    assert!(
        max_of(last, held) <= 2 * max_of(first, held) + 16,
        "{name}: store traffic piled up behind the slow store"
    );
    assert!(
        max_of(last, conns) <= 2 * max_of(first, conns) + 4,
        "{name}: store connections piled up behind the slow store"
    );
    let summary = check_sessions(kind, &report, &demo, None).await;
    eprintln!("{summary}\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_faults_under_load() {
    faults_under_load(Kind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_faults_under_load() {
    faults_under_load(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memcached_faults_under_load() {
    faults_under_load(Kind::Memcached).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_slow_store_under_load() {
    slow_store(Kind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_slow_store_under_load() {
    slow_store(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memcached_slow_store_under_load() {
    slow_store(Kind::Memcached).await;
}
