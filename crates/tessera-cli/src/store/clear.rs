//! `tessera clear-expired`: Django's `clearsessions`, in batches, with progress.

use crate::out::say;
use std::time::Instant;

use clap::Args;
use tessera::store::listing;

use super::open::{config, open, StoreArgs};
use super::progress::Progress;
use super::Failure;

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  SESSION_URL=postgres://app@db/app tessera clear-expired   # e.g. from cron, daily"
)]
pub(crate) struct ClearArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Print only the summary.
    #[arg(long, short)]
    quiet: bool,
    /// The summary as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn clear_expired(args: ClearArgs) -> Result<(), Failure> {
    let config = config(&args.store)?;
    let store = open(&config).await?;
    if store.server_expires() {
        let message =
            "this store's server removes expired sessions itself (its TTLs): nothing to clear";
        if args.json {
            say!(
                "{}",
                serde_json::json!({"removed": 0, "server_expires": true})
            );
        } else {
            say!("{message}");
        }
        return Ok(());
    }
    let started = Instant::now();
    let mut progress = Progress::new("expired sessions removed", args.quiet || args.json);
    let removed = store
        .clear_expired_in_batches(&mut |n| progress.set(n))
        .await
        .map_err(Failure::store)?;
    progress.finish();
    // What is left: counted from a listing where the store has one.
    let mut kept = Some(0u64);
    let mut all = store.list();
    while let Some(listed) = listing::next(&mut all).await {
        match listed {
            Ok(_) => kept = kept.map(|k| k + 1),
            Err(_) => {
                kept = None;
                break;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        say!(
            "{}",
            serde_json::json!({"removed": removed, "kept": kept, "seconds": seconds, "server_expires": false})
        );
    } else {
        let kept = kept.map_or_else(
            || "unknown (the store cannot list)".to_owned(),
            |k| k.to_string(),
        );
        say!("removed {removed} expired sessions, kept {kept}, in {seconds:.1} s");
    }
    Ok(())
}
