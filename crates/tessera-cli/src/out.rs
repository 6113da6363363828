//! Writing results to stdout: a stdout closed early (`tessera list | head`) ends the command
//! quietly instead of panicking as `println!` would.

use std::fmt;
use std::io::Write as _;

use crate::store::Failure;

/// Writes one line to stdout.
pub(crate) fn line(args: fmt::Arguments<'_>) -> Result<(), Failure> {
    match writeln!(std::io::stdout().lock(), "{args}") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::Closed),
        Err(e) => Err(Failure::Store(format!("cannot write to stdout: {e}"))),
    }
}

/// `println!` for the store commands: `say!("{n} sessions")?`-style, returning early with
/// [`Failure::Closed`] once nobody reads.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))?
    };
}
pub(crate) use say;
