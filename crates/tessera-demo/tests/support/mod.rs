//! What the demo's process tests share: the running binary and a free port.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod browser;

use std::net::TcpListener;
use std::process::Child;

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
