//! `tessera delete`: remove sessions by id (a logout the user did not do), after a
//! confirmation unless `--yes`.

use crate::out::say;
use std::io::{BufRead as _, IsTerminal as _, Write as _};

use clap::Args;
use tessera::SessionId;

use super::open::{config, open, StoreArgs};
use super::{shown_id, Failure};

#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  tessera delete --store postgres://app@db/app --yes 'Rk3v…' 'Zq8p…'"
)]
pub(crate) struct DeleteArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Do not ask; needed when stdin is not a terminal.
    #[arg(long, short)]
    yes: bool,
    /// The sessions' ids as stored (`list --show-ids` prints them); ids may start with `-`.
    #[arg(required = true, allow_hyphen_values = true)]
    ids: Vec<String>,
}

pub(crate) async fn delete(args: DeleteArgs) -> Result<(), Failure> {
    let ids = args
        .ids
        .iter()
        .map(|id| SessionId::parse(id).map_err(|e| Failure::Usage(format!("ID {id:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::Usage(
                "refusing to delete without confirmation: pass --yes".to_owned(),
            ));
        }
        eprint!("Delete {} session(s)? [y/N] ", ids.len());
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| Failure::Usage(format!("cannot read the answer: {e}")))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(Failure::Usage("not confirmed; nothing deleted".to_owned()));
        }
    }
    let config = config(&args.store)?;
    let store = open(&config).await?;
    for id in &ids {
        let existed = store.exists(id).await.map_err(Failure::store)?;
        store.delete(id).await.map_err(Failure::store)?;
        let shown = shown_id(id, false);
        say!("{shown}: {}", if existed { "deleted" } else { "not found" });
    }
    Ok(())
}
