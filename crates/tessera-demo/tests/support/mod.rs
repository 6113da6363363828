//! What the demo's process tests share: the running binary and a free port.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod browser;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running demo process, killed when dropped.
pub struct Demo(pub Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nothing listens on (at the time of asking).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The demo binary set to listen on `127.0.0.1:port` in `dir`, where it makes its own key and
/// default SQLite file: SECRET_KEY and SESSION_URL are removed from its environment, it logs
/// warnings only, and its stdout is discarded.
pub fn demo_in(dir: &Path, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera-demo"));
    command
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .current_dir(dir)
        .env_remove("SECRET_KEY")
        .env_remove("SESSION_URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    command
}
