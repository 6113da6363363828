//! `tessera migrate`: copy live sessions from one store (and format) to another, keeping their
//! ids and deadlines so users stay logged in. Each copy is a create that fails if the target
//! has the session already, so a run stopped halfway and started again copies every session
//! once: what the first run copied counts as already present.

use crate::out::say;
use clap::Args;
use serde_json::json;
use tessera::store::{listing, Expected, Saved};
use tessera::{Profile, SessionId};

use super::open::{config, open, StoreArgs};
use super::progress::Progress;
use super::{shown_id, Failure};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  # Flask-Session on Redis to tessera's own table on PostgreSQL:\n  SECRET_KEY=\"$FLASK_SECRET_KEY\" tessera migrate --from redis://127.0.0.1:6379 --from-profile flask-session \\\n      --to postgres://app@db/app --to-profile native\n  tessera migrate --from sqlite://old.db --to redis://127.0.0.1:6379 --dry-run"
)]
pub(crate) struct MigrateArgs {
    /// The store to copy from.
    #[arg(long, value_name = "URL")]
    from: String,
    /// Whose format the source keeps [default: $SESSION_PROFILE, else native].
    #[arg(long, value_name = "PROFILE")]
    from_profile: Option<Profile>,
    /// The source's key prefix [default: $SESSION_KEY_PREFIX, else the profile's].
    #[arg(long, value_name = "PREFIX")]
    from_key_prefix: Option<String>,
    /// The store to copy to.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Whose format to write [default: $SESSION_PROFILE, else native].
    #[arg(long, value_name = "PROFILE")]
    to_profile: Option<Profile>,
    /// The target's key prefix [default: $SESSION_KEY_PREFIX, else the profile's].
    #[arg(long, value_name = "PREFIX")]
    to_key_prefix: Option<String>,
    /// Read and count, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print only the summary.
    #[arg(long, short)]
    quiet: bool,
    /// The summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Default)]
struct Counts {
    copied: u64,
    expired: u64,
    unreadable: u64,
    refused_ids: u64,
    present: u64,
}

pub(crate) async fn migrate(args: MigrateArgs) -> Result<(), Failure> {
    let from = config(&StoreArgs {
        url: Some(args.from.clone()),
        profile: args.from_profile,
        key_prefix: args.from_key_prefix.clone(),
    })?;
    let to = config(&StoreArgs {
        url: Some(args.to.clone()),
        profile: args.to_profile,
        key_prefix: args.to_key_prefix.clone(),
    })?;
    let (source, target) = (open(&from).await?, open(&to).await?);
    let target_profile = to.profile();
    let now = from.clock().now();
    let mut counts = Counts::default();
    let mut progress = Progress::new("sessions read", args.quiet || args.json);
    let mut all = source.list();
    while let Some(listed) = listing::next(&mut all).await {
        let listed = listed.map_err(Failure::store)?;
        progress.inc();
        if listed.is_expired(now) {
            counts.expired += 1;
            continue;
        }
        let id: SessionId = listed.id;
        let record = match source.load(&id).await {
            Ok(Some(loaded)) => loaded.record,
            Ok(None) => {
                counts.expired += 1;
                continue;
            }
            Err(tessera::store::Error::Corrupt { .. }) => {
                counts.unreadable += 1;
                continue;
            }
            Err(error) => return Err(Failure::store(error)),
        };
        if !target_profile.accepts_id(&id) {
            counts.refused_ids += 1;
            if !args.quiet && !args.json {
                eprintln!(
                    "{}: the {target_profile} profile cannot keep this id",
                    shown_id(&id, false)
                );
            }
            continue;
        }
        if args.dry_run {
            if target.exists(&id).await.map_err(Failure::store)? {
                counts.present += 1;
            } else {
                counts.copied += 1;
            }
            continue;
        }
        match target.save(&id, &record, Expected::Absent).await {
            Ok(Saved::Written(_)) => counts.copied += 1,
            Ok(Saved::Conflict) => counts.present += 1,
            Err(tessera::store::Error::RefusedId { .. }) => counts.refused_ids += 1,
            Err(tessera::store::Error::TooLarge { .. }) => counts.unreadable += 1,
            Err(error) => return Err(Failure::store(error)),
        }
    }
    progress.finish();
    let verb = if args.dry_run { "would copy" } else { "copied" };
    if args.json {
        say!(
            "{}",
            json!({
                "dry_run": args.dry_run,
                "copied": counts.copied,
                "skipped_expired": counts.expired,
                "refused_unreadable": counts.unreadable,
                "refused_ids": counts.refused_ids,
                "already_present": counts.present,
            })
        );
    } else {
        say!(
            "{verb} {}, skipped as expired {}, refused as unreadable {}, refused ids {}, already present {}",
            counts.copied, counts.expired, counts.unreadable, counts.refused_ids, counts.present
        );
    }
    let refused = counts.unreadable + counts.refused_ids;
    if refused > 0 {
        return Err(Failure::Partial(format!(
            "{refused} sessions could not be copied (see the counts above)"
        )));
    }
    Ok(())
}
