//! `tessera keygen`: a new secret key.

use std::process::ExitCode;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clap::Args;

#[derive(Debug, Args)]
#[command(
    after_help = "Rotating a key without logging anyone out:\n  1. Move the current key to SECRET_KEY_FALLBACKS (comma-separated, newest first) and set\n     SECRET_KEY to the new one, on every instance at once.\n  2. Cookies and records signed with a fallback key are still accepted and are re-signed\n     with the new key as they are used.\n  3. Once the session lifetime has passed, drop the old key from SECRET_KEY_FALLBACKS.\nA leaked key is replaced the same way, but never kept as a fallback.\n\nExample:\n  SECRET_KEY=$(tessera keygen)"
)]
pub(crate) struct KeygenArgs {}

/// 64 bytes from the operating system's CSPRNG, base64.
pub(crate) fn run(_: &KeygenArgs) -> ExitCode {
    let mut key = [0u8; 64];
    match getrandom::fill(&mut key) {
        Ok(()) => {
            println!("{}", STANDARD.encode(key));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("tessera: the operating system's random number generator failed: {error}");
            ExitCode::FAILURE
        }
    }
}
