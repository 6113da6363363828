//! Round-trip latency of each store operation, per store URL.
//!
//! ```text
//! cargo bench -p tessera --all-features --bench store_latency -- memory redis://127.0.0.1:6379
//! ```
//!
//! Prints p50 / p99 / mean per operation over `TESSERA_BENCH_ITERATIONS` sessions (default
//! 2,000), one operation at a time over one connection or pool: latency, not throughput.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration as StdDuration, Instant};

use tessera::store::{open, Expected, OpenOptions, Saved};
use tessera::{Data, Expiry, Record, SessionId};
use time::{Duration, OffsetDateTime};

#[derive(Default)]
struct Samples(Vec<StdDuration>);

impl Samples {
    fn time<T>(&mut self, start: Instant, out: T) -> T {
        self.0.push(start.elapsed());
        out
    }

    fn row(&mut self, op: &str) -> String {
        self.0.sort();
        let n = self.0.len().max(1);
        let pick = |q: f64| {
            self.0
                .get(((n as f64 * q) as usize).min(n - 1))
                .copied()
                .unwrap_or_default()
        };
        let mean = self.0.iter().sum::<StdDuration>() / n as u32;
        format!(
            "| {op:<8} | {:>9.1} | {:>9.1} | {:>9.1} |",
            pick(0.5).as_secs_f64() * 1e6,
            pick(0.99).as_secs_f64() * 1e6,
            mean.as_secs_f64() * 1e6
        )
    }
}

#[tokio::main]
async fn main() {
    let urls: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let urls = if urls.is_empty() {
        vec!["memory".to_owned()]
    } else {
        urls
    };
    let iterations: usize = std::env::var("TESSERA_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let options = OpenOptions::default().with_key_prefix("tessera-bench:");
    let mut data = Data::new();
    data.insert("user".into(), "ada@example.com".into());
    data.insert("csrf".into(), "x".repeat(43).into());
    data.insert("cart".into(), serde_json::json!([1, 2, 3]));
    for url in urls {
        let store = match open(&url, &options).await {
            Ok(store) => store,
            Err(error) => {
                eprintln!("{url}: cannot open: {error}");
                continue;
            }
        };
        let (mut save_new, mut load, mut save, mut touch, mut delete) = (
            Samples::default(),
            Samples::default(),
            Samples::default(),
            Samples::default(),
            Samples::default(),
        );
        for _ in 0..iterations {
            let id = SessionId::generate().unwrap();
            let expires = OffsetDateTime::now_utc() + Duration::hours(1);
            let record = Record::new(data.clone(), Expiry::Default, expires);
            let t = Instant::now();
            let saved = save_new.time(t, store.save(&id, &record, Expected::Absent).await.unwrap());
            let Saved::Written(v) = saved else {
                panic!("a fresh id conflicted")
            };
            let t = Instant::now();
            let loaded = load.time(t, store.load(&id).await.unwrap());
            assert!(loaded.is_some());
            let t = Instant::now();
            let _ = save.time(
                t,
                store
                    .save(&id, &record, Expected::Version(v))
                    .await
                    .unwrap(),
            );
            let t = Instant::now();
            touch.time(
                t,
                store
                    .touch(&id, expires + Duration::hours(1))
                    .await
                    .unwrap(),
            );
            let t = Instant::now();
            store.delete(&id).await.unwrap();
            delete.time(t, ());
        }
        println!(
            "\n{} — {iterations} sessions, microseconds",
            tessera_url(&url)
        );
        println!("| op       |       p50 |       p99 |      mean |");
        println!("|----------|-----------|-----------|-----------|");
        println!("{}", save_new.row("create"));
        println!("{}", load.row("load"));
        println!("{}", save.row("save"));
        println!("{}", touch.row("touch"));
        println!("{}", delete.row("delete"));
    }
}

fn tessera_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
