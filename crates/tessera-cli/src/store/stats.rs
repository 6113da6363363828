//! `tessera stats`: how many sessions, how big, and when they end — from a listing, one page at
//! a time; only the sizes are kept, to compute percentiles.

use crate::out::say;
use clap::Args;
use serde_json::json;
use tessera::store::listing;
use time::Duration;

use super::open::{config, open, StoreArgs};
use super::progress::Progress;
use super::Failure;

/// The size histogram's buckets: up to each bound, in bytes; the last is open.
const BUCKETS: [u64; 6] = [256, 1024, 4096, 16 * 1024, 64 * 1024, 256 * 1024];

#[derive(Debug, Args)]
#[command(after_help = "Example:\n  SESSION_URL=redis://127.0.0.1:6379 tessera stats")]
pub(crate) struct StatsArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// No progress display while counting.
    #[arg(long, short)]
    quiet: bool,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn percentile(sorted: &[u64], p: u64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (sorted.len() - 1) * usize::try_from(p).unwrap_or(100) / 100;
    sorted[rank]
}

fn bucket_name(i: usize) -> String {
    let kib = |b: u64| {
        if b >= 1024 {
            format!("{} KiB", b / 1024)
        } else {
            format!("{b} B")
        }
    };
    match i {
        0 => format!("< {}", kib(BUCKETS[0])),
        i if i < BUCKETS.len() => format!("{} – {}", kib(BUCKETS[i - 1]), kib(BUCKETS[i])),
        _ => format!("≥ {}", kib(BUCKETS[BUCKETS.len() - 1])),
    }
}

pub(crate) async fn stats(args: StatsArgs) -> Result<(), Failure> {
    let config = config(&args.store)?;
    let store = open(&config).await?;
    let now = config.clock().now();
    let mut progress = Progress::new("sessions read", args.quiet || args.json);
    let mut sizes = Vec::new();
    let mut expired = 0u64;
    let (mut within_hour, mut within_day) = (0u64, 0u64);
    let mut histogram = [0u64; BUCKETS.len() + 1];
    let mut all = store.list();
    while let Some(listed) = listing::next(&mut all).await {
        let listed = listed.map_err(Failure::store)?;
        progress.inc();
        if listed.is_expired(now) {
            expired += 1;
            continue;
        }
        if let Some(at) = listed.expires_at {
            if at <= now + Duration::hours(1) {
                within_hour += 1;
            }
            if at <= now + Duration::days(1) {
                within_day += 1;
            }
        }
        let bucket = BUCKETS
            .iter()
            .position(|&b| listed.size < b)
            .unwrap_or(BUCKETS.len());
        histogram[bucket] += 1;
        sizes.push(listed.size);
    }
    progress.finish();
    sizes.sort_unstable();
    let total: u64 = sizes.iter().sum();
    let live = sizes.len() as u64;
    let p = |n| percentile(&sizes, n);
    if args.json {
        let buckets: Vec<_> = histogram
            .iter()
            .enumerate()
            .map(|(i, n)| json!({"bucket": bucket_name(i), "sessions": n}))
            .collect();
        say!(
            "{}",
            json!({
                "sessions": live,
                "expired_still_stored": expired,
                "total_bytes": total,
                "size_p50": p(50), "size_p90": p(90), "size_p99": p(99),
                "size_max": sizes.last().copied().unwrap_or(0),
                "expiring_within_an_hour": within_hour,
                "expiring_within_a_day": within_day,
                "histogram": buckets,
            })
        );
        return Ok(());
    }
    say!("sessions                 {live}");
    say!("expired, still stored    {expired}");
    say!("total size               {total} bytes");
    say!(
        "size p50/p90/p99/max     {} / {} / {} / {} bytes",
        p(50),
        p(90),
        p(99),
        sizes.last().copied().unwrap_or(0)
    );
    say!("expiring within an hour  {within_hour}");
    say!("expiring within a day    {within_day}");
    say!("sizes");
    let widest = histogram.iter().copied().max().unwrap_or(0).max(1);
    for (i, n) in histogram.iter().enumerate() {
        let bar = "#".repeat(usize::try_from(n * 40 / widest).unwrap_or(40));
        say!("  {:>17} {n:>8} {bar}", bucket_name(i));
    }
    Ok(())
}
