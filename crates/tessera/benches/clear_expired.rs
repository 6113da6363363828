//! How long `clear_expired` takes to delete 100,000 expired sessions, per store URL.
//!
//! ```text
//! cargo bench -p tessera --all-features --bench clear_expired -- \
//!     postgres://postgres@127.0.0.1/test mysql://root@127.0.0.1/test sqlite:///tmp/tessera-bench.db
//! ```
//!
//! Fills a store with `TESSERA_BENCH_ROWS` (default 100,000) sessions that expire ten seconds
//! later by an injected clock, moves the clock a minute on, and times one `clear_expired`.
//! SQL stores use the table `tessera_bench_clear` (left empty afterwards).

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::Instant;

use tessera::clock::ManualClock;
use tessera::store::{open, Expected, OpenOptions};
use tessera::{Data, Expiry, Record, SessionId};
use time::Duration;

const WRITERS: usize = 16;

#[tokio::main]
async fn main() {
    let urls: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rows: usize = std::env::var("TESSERA_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    for url in urls {
        let clock = ManualClock::starting_now();
        let options = OpenOptions::default()
            .with_clock(Arc::new(clock.clone()))
            .with_timeout(std::time::Duration::from_secs(30));
        let sep = if url.contains('?') { '&' } else { '?' };
        let table_url = match url.split(':').next() {
            Some("postgres" | "postgresql" | "mysql" | "mariadb" | "sqlite") => {
                format!("{url}{sep}table=tessera_bench_clear")
            }
            _ => url.clone(),
        };
        let store = match open(&table_url, &options).await {
            Ok(store) => store,
            Err(error) => {
                eprintln!("{url}: cannot open: {error}");
                continue;
            }
        };
        let mut data = Data::new();
        data.insert("user".into(), "ada@example.com".into());
        let record = Record::new(
            data,
            Expiry::Default,
            tessera::clock::Clock::now(&clock) + Duration::seconds(10),
        );
        let started = Instant::now();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (store, record) = (store.clone(), record.clone());
                let share = rows / WRITERS + usize::from(w < rows % WRITERS);
                tokio::spawn(async move {
                    for _ in 0..share {
                        let id = SessionId::generate().unwrap();
                        let _ = store.save(&id, &record, Expected::Absent).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let filled = started.elapsed();
        clock.advance(Duration::minutes(1));
        let started = Instant::now();
        let removed = store.clear_expired().await.unwrap();
        let cleared = started.elapsed();
        println!(
            "{}: filled {rows} sessions in {:.1} s; clear_expired removed {removed} in {:.2} s ({:.0} rows/s)",
            redact(&url),
            filled.as_secs_f64(),
            cleared.as_secs_f64(),
            removed as f64 / cleared.as_secs_f64()
        );
    }
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
