//! A load generator for the demo: many clients, each with its own session, each sending
//! `GET /counter` in a closed loop and recording every count the demo acknowledged with a
//! `200`. Bounded in requests and in time, and refusing any address but a loopback one.
//!
//! What a run shows: a counter only grows, so a `200` whose count is not above the last one
//! acknowledged in the same session is a lost update ([`ClientRecord::regressions`]), unless it
//! is a fresh session's first count (`1`), which is what a store that lost its data gives
//! ([`ClientRecord::fresh_starts`]). A session's count can never exceed the requests sent in
//! it ([`ClientRecord::sent`]); it can exceed the last acknowledged one, by the requests whose
//! save reached the store but whose answer did not reach the client.
//!
//! ```no_run
//! # async fn example() -> Result<(), tessera_demo::load::LoadError> {
//! use std::time::Duration;
//! use tessera_demo::load::{self, Plan, Stop};
//!
//! let plan = Plan::new("http://127.0.0.1:3000")?
//!     .clients(32)
//!     .max_requests(10_000)
//!     .max_duration(Duration::from_secs(10));
//! let report = load::run(&plan, &Stop::new()).await?;
//! assert!(report.clients.iter().all(|c| c.regressions.is_empty()));
//! # Ok(()) }
//! ```

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// What a run is bounded by and aimed at.
#[derive(Debug, Clone)]
pub struct Plan {
    base: String,
    clients: usize,
    max_requests: u64,
    max_duration: Duration,
    request_timeout: Duration,
    pause: Duration,
}

impl Plan {
    /// A plan against the demo at `base` (`http://127.0.0.1:PORT`, `http://[::1]:PORT` or
    /// `http://localhost:PORT`): 16 clients, at most 100,000 requests and 60 seconds, a
    /// 10-second bound on each request, no pause between a client's requests.
    pub fn new(base: &str) -> Result<Self, LoadError> {
        let base = base.trim_end_matches('/');
        let host = base
            .strip_prefix("http://")
            .ok_or_else(|| LoadError::NotLoopback(base.to_owned()))?
            .split('/')
            .next()
            .unwrap_or_default();
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let loopback =
            name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(LoadError::NotLoopback(base.to_owned()));
        }
        Ok(Self {
            base: base.to_owned(),
            clients: 16,
            max_requests: 100_000,
            max_duration: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            pause: Duration::ZERO,
        })
    }

    /// Sets how many clients run at once, each with its own session.
    #[must_use]
    pub fn clients(mut self, clients: usize) -> Self {
        self.clients = clients.max(1);
        self
    }

    /// Sets the most requests the run sends, over all clients.
    #[must_use]
    pub fn max_requests(mut self, requests: u64) -> Self {
        self.max_requests = requests;
        self
    }

    /// Sets how long the run may last.
    #[must_use]
    pub fn max_duration(mut self, duration: Duration) -> Self {
        self.max_duration = duration;
        self
    }

    /// Sets how long a request may take before it counts as unanswered.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets how long each client waits between its requests.
    #[must_use]
    pub fn pause(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }
}

/// Ends a run early: clients finish the request they are sending and stop.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// A stop not yet asked for.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The address is not `http://` on a loopback host.
    #[error("the load generator only targets http:// on a loopback address, not {0:?}")]
    NotLoopback(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `200`, with the count the demo acknowledged.
    Counted(u64),
    /// Any other status, or a `200` whose body held no count.
    Status(u16),
    /// No response within the request timeout, or the connection failed.
    NoResponse,
}

/// One request.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Which client sent it.
    pub client: usize,
    /// When it was sent, since the run started.
    pub sent: Duration,
    /// How long its answer took.
    pub latency: Duration,
    /// How it ended.
    pub outcome: Outcome,
}

impl Sample {
    /// When its answer arrived (or it gave up), since the run started.
    pub fn done(&self) -> Duration {
        self.sent + self.latency
    }
}

/// What one client saw of its session.
#[derive(Debug, Clone, Default)]
pub struct ClientRecord {
    /// The cookie it held at the end (`name=value`).
    pub cookie: Option<String>,
    /// The last count acknowledged in its current session (0 before the first).
    pub acknowledged: u64,
    /// Requests sent in its current session: no count in it can be higher.
    pub sent: u64,
    /// When the demo answered with a fresh session's first count after having acknowledged
    /// more: the session was gone from the store.
    pub fresh_starts: Vec<Duration>,
    /// `(acknowledged, answered)`: a `200` whose count did not grow and was no fresh start.
    pub regressions: Vec<(u64, u64)>,
    /// `(sent, answered)`: a count above the requests sent in the session.
    pub overcounts: Vec<(u64, u64)>,
}

/// Everything a run recorded.
#[derive(Debug, Clone)]
pub struct Report {
    /// When the run started: every [`Sample::sent`] counts from here.
    pub started: Instant,
    /// Every request, in no particular order.
    pub samples: Vec<Sample>,
    /// Every client's session, by client number.
    pub clients: Vec<ClientRecord>,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Report {
    /// The requests sent within `[from, to)` of the run's start.
    pub fn sent_between(&self, from: Duration, to: Duration) -> impl Iterator<Item = &Sample> {
        self.samples
            .iter()
            .filter(move |s| s.sent >= from && s.sent < to)
    }

    /// How many requests were answered `200` with a count.
    pub fn count_counted(&self) -> usize {
        self.samples
            .iter()
            .filter(|s| matches!(s.outcome, Outcome::Counted(_)))
            .count()
    }

    /// How many requests ended with `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.samples.iter().filter(|s| s.outcome == outcome).count()
    }
}

/// The `p`-th percentile (0–100) of `latencies`, or zero for none.
pub fn percentile(latencies: impl IntoIterator<Item = Duration>, p: f64) -> Duration {
    let mut all: Vec<Duration> = latencies.into_iter().collect();
    if all.is_empty() {
        return Duration::ZERO;
    }
    all.sort_unstable();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    // a rank within 0..len: the float is non-negative and below `len`
    let rank = ((p / 100.0) * (all.len() - 1) as f64).round() as usize;
    all[rank.min(all.len() - 1)]
}

/// Runs `plan` until its bounds or `stop`.
pub async fn run(plan: &Plan, stop: &Stop) -> Result<Report, LoadError> {
    let client = reqwest::Client::builder()
        .timeout(plan.request_timeout)
        .pool_max_idle_per_host(plan.clients)
        .build()
        .map_err(LoadError::Client)?;
    let started = Instant::now();
    let budget = Arc::new(AtomicU64::new(plan.max_requests));
    let tasks: Vec<_> = (0..plan.clients)
        .map(|n| {
            let client = client.clone();
            let plan = plan.clone();
            let stop = stop.clone();
            let budget = budget.clone();
            tokio::spawn(async move { drive(n, &client, &plan, &stop, &budget, started).await })
        })
        .collect();
    let mut report = Report {
        started,
        samples: Vec::new(),
        clients: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        // A client task only ends by returning; a panic in it is a bug worth surfacing.
        let (record, samples) = task
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        report.clients.push(record);
        report.samples.extend(samples);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

async fn drive(
    n: usize,
    client: &reqwest::Client,
    plan: &Plan,
    stop: &Stop,
    budget: &AtomicU64,
    started: Instant,
) -> (ClientRecord, Vec<Sample>) {
    let mut record = ClientRecord::default();
    let mut samples = Vec::new();
    let url = format!("{}/counter", plan.base);
    loop {
        let taken = budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1));
        if taken.is_err() || stop.stopped() || started.elapsed() >= plan.max_duration {
            break;
        }
        let sent = started.elapsed();
        let mut request = client.get(&url);
        if let Some(cookie) = &record.cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        record.sent += 1;
        let mut new_cookie = false;
        let outcome = match request.send().await {
            Ok(response) => {
                let status = response.status();
                if let Some(cookie) = response.headers().get(reqwest::header::SET_COOKIE) {
                    let pair = cookie
                        .to_str()
                        .ok()
                        .and_then(|c| c.split(';').next())
                        .map(str::trim);
                    let cookie = match pair {
                        Some(pair) if !pair.ends_with('=') => Some(pair.to_owned()),
                        _ => None,
                    };
                    new_cookie = cookie != record.cookie;
                    record.cookie = cookie;
                }
                let count = if status == reqwest::StatusCode::OK {
                    response
                        .json::<Value>()
                        .await
                        .ok()
                        .and_then(|body| body["count"].as_u64())
                } else {
                    None
                };
                match count {
                    Some(count) => Outcome::Counted(count),
                    None => Outcome::Status(status.as_u16()),
                }
            }
            Err(_) => Outcome::NoResponse,
        };
        let latency = started.elapsed().saturating_sub(sent);
        if let Outcome::Counted(count) = outcome {
            acknowledge(&mut record, count, new_cookie, sent);
        }
        samples.push(Sample {
            client: n,
            sent,
            latency,
            outcome,
        });
        if !plan.pause.is_zero() {
            tokio::time::sleep(plan.pause).await;
        }
    }
    (record, samples)
}

/// Books a `200`'s count; `new_cookie`: the response set a cookie other than the one sent
/// (a fresh session always does, with its new id).
fn acknowledge(record: &mut ClientRecord, count: u64, new_cookie: bool, sent_at: Duration) {
    if count == 1 && record.acknowledged >= 1 && new_cookie {
        record.fresh_starts.push(sent_at);
        record.sent = 1;
    } else if count <= record.acknowledged {
        record.regressions.push((record.acknowledged, count));
    } else if count > record.sent {
        record.overcounts.push((record.sent, count));
    }
    record.acknowledged = count;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets() {
        for ok in [
            "http://127.0.0.1:3000",
            "http://127.0.0.1:3000/",
            "http://localhost:8080",
            "http://[::1]:3000",
            "http://127.1.2.3",
        ] {
            assert!(Plan::new(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://10.0.0.1:3000",
            "http://example.com",
            "https://127.0.0.1:3000",
            "http://127.0.0.1.example.com:80",
            "127.0.0.1:3000",
        ] {
            assert!(
                matches!(Plan::new(refused), Err(LoadError::NotLoopback(_))),
                "{refused}"
            );
        }
    }

    #[test]
    fn a_count_that_does_not_grow_is_a_regression_unless_fresh() {
        let mut r = ClientRecord::default();
        // The third request went unanswered: the fourth count is 4.
        for (sent, count) in [(1, 1), (2, 2), (4, 4)] {
            r.sent = sent;
            acknowledge(&mut r, count, sent == 1, Duration::ZERO);
        }
        assert!(r.regressions.is_empty() && r.overcounts.is_empty());
        r.sent = 4;
        acknowledge(&mut r, 3, false, Duration::ZERO);
        assert_eq!(r.regressions, vec![(4, 3)]);
        // A first count under the same cookie is a lost session, not a fresh one.
        acknowledge(&mut r, 1, false, Duration::ZERO);
        assert_eq!(r.regressions, vec![(4, 3), (3, 1)]);
        r.sent = 5;
        acknowledge(&mut r, 1, true, Duration::from_secs(1));
        assert_eq!(r.fresh_starts, vec![Duration::from_secs(1)]);
        assert_eq!(r.sent, 1);
        r.sent = 2;
        acknowledge(&mut r, 7, false, Duration::ZERO);
        assert_eq!(r.overcounts, vec![(2, 7)]);
    }

    #[test]
    fn percentiles() {
        let ms = |n| Duration::from_millis(n);
        assert_eq!(percentile([], 99.0), Duration::ZERO);
        let all: Vec<_> = (1..=100).map(ms).collect();
        assert_eq!(percentile(all.clone(), 50.0), ms(51));
        assert_eq!(percentile(all.clone(), 99.0), ms(99));
        assert_eq!(percentile(all, 100.0), ms(100));
    }
}
