//! Progress of a long command: a bar on a terminal (`indicatif`), plain lines on stderr
//! otherwise (a log, a pipe), nothing with `--quiet`.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often plain lines are written.
const EVERY: Duration = Duration::from_secs(2);

pub(crate) enum Progress {
    Bar(ProgressBar),
    Lines {
        what: &'static str,
        last: Instant,
        count: u64,
    },
    Quiet,
}

impl Progress {
    /// Progress of `what` ("removed", "read"); `quiet` shows nothing.
    pub(crate) fn new(what: &'static str, quiet: bool) -> Self {
        if quiet {
            Self::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) =
                ProgressStyle::with_template("{spinner} {elapsed_precise} {pos} {msg} ({per_sec})")
            {
                bar.set_style(style);
            }
            bar.set_message(what);
            bar.enable_steady_tick(Duration::from_millis(120));
            Self::Bar(bar)
        } else {
            Self::Lines {
                what,
                last: Instant::now(),
                count: 0,
            }
        }
    }

    /// The running total is now `count`.
    pub(crate) fn set(&mut self, count: u64) {
        match self {
            Self::Bar(bar) => bar.set_position(count),
            Self::Lines {
                what,
                last,
                count: c,
            } => {
                *c = count;
                if last.elapsed() >= EVERY {
                    eprintln!("{count} {what}");
                    *last = Instant::now();
                }
            }
            Self::Quiet => {}
        }
    }

    /// The count grew by one.
    pub(crate) fn inc(&mut self) {
        let next = match self {
            Self::Bar(bar) => bar.position() + 1,
            Self::Lines { count, .. } => *count + 1,
            Self::Quiet => return,
        };
        self.set(next);
    }

    /// Done: the bar goes away (the command prints its summary).
    pub(crate) fn finish(self) {
        if let Self::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
