//! The commands that work on a running store: `list`, `inspect`, `stats`, `delete`,
//! `clear-expired`, `migrate`. Each opens the store the library would (`open`), and reports
//! what it did on stdout, as text or `--json`.

mod clear;
mod delete;
mod list;
mod migrate;
mod open;
mod progress;
mod stats;

use std::process::ExitCode;

pub(crate) use clear::{clear_expired, ClearArgs};
pub(crate) use delete::{delete, DeleteArgs};
pub(crate) use list::{inspect, list, InspectArgs, ListArgs};
pub(crate) use migrate::{migrate, MigrateArgs};
pub(crate) use stats::{stats, StatsArgs};

/// Why a store command failed, and the exit code it gets.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// Bad flags, environment or configuration: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The store failed: exit 1.
    #[error("{0}")]
    Store(String),
    /// The command ran, but some sessions could not be handled: exit 3.
    #[error("{0}")]
    Partial(String),
    /// Nobody reads stdout any more (`| head`): stop, quietly, with success.
    #[error("stdout closed")]
    Closed,
}

impl Failure {
    fn config(error: impl std::error::Error) -> Self {
        Self::Usage(chain(&error))
    }

    fn store(error: impl std::error::Error) -> Self {
        Self::Store(chain(&error))
    }

    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Closed => 0,
            Self::Store(_) => 1,
            Self::Usage(_) => 2,
            Self::Partial(_) => 3,
        })
    }
}

/// An error and its causes, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

/// How a session's id is shown: its log tag (a hash, safe to paste in a ticket) unless the
/// operator asked for the ids themselves, which are credentials.
fn shown_id(id: &tessera::SessionId, show_ids: bool) -> String {
    if show_ids {
        id.expose().to_owned()
    } else {
        format!("#{}", id.log_tag())
    }
}

/// A deadline as RFC 3339, to the second.
fn when(at: Option<time::OffsetDateTime>) -> String {
    at.and_then(|at| {
        at.replace_nanosecond(0)
            .ok()?
            .format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .unwrap_or_else(|| "-".to_owned())
}

/// A runtime for one command.
pub(crate) fn block_on<T>(work: impl std::future::Future<Output = T>) -> Result<T, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Store(format!("cannot start the runtime: {e}")))?;
    Ok(runtime.block_on(work))
}
