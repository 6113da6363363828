//! `tessera list` and `tessera inspect`: what is stored, without the values unless asked.

use crate::out::say;
use clap::Args;
use serde_json::{json, Value};
use tessera::store::{listing, Listed, SharedStore};
use tessera::{Record, SessionId};

use super::open::{config, open, StoreArgs};
use super::{shown_id, when, Failure};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  SESSION_URL=postgres://app@db/app tessera list --limit 20\n  tessera list --store redis://127.0.0.1:6379 --expired --json"
)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// List at most this many sessions.
    #[arg(long, default_value_t = 100)]
    limit: u64,
    /// Include records past their deadline that the store still holds (what
    /// `clear-expired` would remove).
    #[arg(long)]
    expired: bool,
    /// Show the ids themselves (they are credentials), not their hashes.
    #[arg(long)]
    show_ids: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  tessera inspect --store sqlite://sessions.db --show-values 'Rk3v…'   # an id from `list --show-ids`"
)]
pub(crate) struct InspectArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Print the values too, not only the keys.
    #[arg(long)]
    show_values: bool,
    /// Show the id itself, not its hash.
    #[arg(long)]
    show_ids: bool,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
    /// The session's id as stored (`list --show-ids` prints them); ids may start with `-`.
    #[arg(allow_hyphen_values = true)]
    id: String,
}

/// The keys of a stored session, if it loads (a listing names records that may expire or go
/// meanwhile).
async fn keys(store: &SharedStore, id: &SessionId) -> Option<Vec<String>> {
    let loaded = store.load(id).await.ok()??;
    let mut keys: Vec<String> = loaded.record.data.keys().cloned().collect();
    keys.sort();
    Some(keys)
}

pub(crate) async fn list(args: ListArgs) -> Result<(), Failure> {
    let config = config(&args.store)?;
    let store = open(&config).await?;
    let now = config.clock().now();
    let mut all = store.list();
    let mut shown = 0;
    while shown < args.limit {
        let Some(listed) = listing::next(&mut all).await else {
            break;
        };
        let listed: Listed = listed.map_err(Failure::store)?;
        let expired = listed.is_expired(now);
        if expired && !args.expired {
            continue;
        }
        if shown == 0 && !args.json {
            say!("{:<46} {:>9}  {:<25} keys", "id", "bytes", "expires");
        }
        shown += 1;
        let keys = if expired {
            None
        } else {
            keys(&store, &listed.id).await
        };
        let id = shown_id(&listed.id, args.show_ids);
        if args.json {
            say!(
                "{}",
                json!({
                    "id": id,
                    "size": listed.size,
                    "expires_at": when(listed.expires_at),
                    "expired": expired,
                    "keys": keys,
                })
            );
        } else {
            let keys = match (&keys, expired) {
                (_, true) => "(expired)".to_owned(),
                (Some(keys), false) => keys.join(", "),
                (None, false) => "(gone or unreadable)".to_owned(),
            };
            say!(
                "{id:<46} {:>9}  {:<25} {keys}",
                listed.size,
                when(listed.expires_at)
            );
        }
    }
    if shown == 0 && !args.json {
        say!("no sessions");
    }
    Ok(())
}

fn described(id: &str, record: &Record, show_values: bool) -> Value {
    let mut keys: Vec<&String> = record.data.keys().collect();
    keys.sort();
    let mut out = json!({
        "id": id,
        "expires_at": when(Some(record.expires_at)),
        "expiry": format!("{:?}", record.expiry),
        "keys": keys,
    });
    if show_values {
        out["values"] = serde_json::to_value(&*record.data).unwrap_or(Value::Null);
    }
    out
}

pub(crate) async fn inspect(args: InspectArgs) -> Result<(), Failure> {
    let id = SessionId::parse(&args.id).map_err(|e| Failure::Usage(format!("ID: {e}")))?;
    let config = config(&args.store)?;
    let store = open(&config).await?;
    let Some(loaded) = store.load(&id).await.map_err(Failure::store)? else {
        return Err(Failure::Store(format!(
            "no live session {} in the store",
            shown_id(&id, args.show_ids)
        )));
    };
    let described = described(
        &shown_id(&id, args.show_ids),
        &loaded.record,
        args.show_values,
    );
    if args.json {
        say!("{described}");
    } else {
        say!("id:       {}", described["id"].as_str().unwrap_or_default());
        say!(
            "expires:  {}",
            described["expires_at"].as_str().unwrap_or_default()
        );
        say!(
            "expiry:   {}",
            described["expiry"].as_str().unwrap_or_default()
        );
        match described.get("values") {
            Some(Value::Object(values)) => {
                say!("values:");
                let mut keys: Vec<&String> = values.keys().collect();
                keys.sort();
                for key in keys {
                    say!("  {key} = {}", values[key]);
                }
            }
            _ => {
                let keys = described["keys"]
                    .as_array()
                    .map(|k| {
                        k.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                say!("keys:     {keys}");
            }
        }
    }
    Ok(())
}
