//! A TCP proxy of the test's own between the demo and a store's server: it passes bytes
//! through, drops every connection and refuses new ones, or holds every chunk back for a
//! fixed delay in each direction (latency without a cap on throughput). It counts the
//! connections open through it and the chunks it holds: a pile-up of store operations behind
//! a slow server shows as growth in either.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Bytes pass straight through.
    Pass,
    /// Connections are closed as soon as they are accepted.
    Refuse,
    /// Every chunk is held this long before it is passed on.
    Delay(Duration),
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicUsize,
    held: AtomicUsize,
}

/// A running proxy; it stops with the test's runtime.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    mode: Arc<Mutex<Mode>>,
    /// Bumped to close every open connection.
    cut: watch::Sender<u64>,
    counters: Arc<Counters>,
}

impl Proxy {
    /// A proxy on a free loopback port to `127.0.0.1:upstream`.
    pub(crate) async fn start(upstream: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let mode = Arc::new(Mutex::new(Mode::Pass));
        let (cut, _) = watch::channel(0u64);
        let counters = Arc::new(Counters::default());
        let proxy = Self {
            port,
            mode: mode.clone(),
            cut: cut.clone(),
            counters: counters.clone(),
        };
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *mode.lock().unwrap() == Mode::Refuse {
                    drop(client);
                    continue;
                }
                let mode = mode.clone();
                let counters = counters.clone();
                let cut = cut.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                        return;
                    };
                    counters.connections.fetch_add(1, Ordering::Relaxed);
                    relay(client, server, &mode, &counters, cut).await;
                    counters.connections.fetch_sub(1, Ordering::Relaxed);
                });
            }
        });
        Ok(proxy)
    }

    /// Sets the mode; `Refuse` also closes every open connection.
    pub(crate) fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
        if mode == Mode::Refuse {
            self.cut.send_modify(|n| *n += 1);
        }
    }

    /// Connections open through the proxy now.
    pub(crate) fn connections(&self) -> usize {
        self.counters.connections.load(Ordering::Relaxed)
    }

    /// Chunks held back now (in `Delay` mode), both directions.
    pub(crate) fn held(&self) -> usize {
        self.counters.held.load(Ordering::Relaxed)
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    mode: &Arc<Mutex<Mode>>,
    counters: &Arc<Counters>,
    mut cut: watch::Receiver<u64>,
) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, mode.clone(), counters.clone());
    let down = pump(server_read, client_write, mode.clone(), counters.clone());
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = cut.changed() => {}
    }
}

/// One chunk held by the proxy; counted until it is written or dropped.
struct Held(Arc<Counters>);

impl Held {
    fn new(counters: &Arc<Counters>) -> Self {
        counters.held.fetch_add(1, Ordering::Relaxed);
        Self(counters.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.held.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Copies `from` to `to`, each chunk after the delay the mode had when it was read.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: Arc<Mutex<Mode>>,
    counters: Arc<Counters>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>, Held)>();
    let writer = async move {
        while let Some((due, chunk, held)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            drop(held);
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
    };
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let delay = match *mode.lock().unwrap() {
                Mode::Delay(d) => d,
                Mode::Pass | Mode::Refuse => Duration::ZERO,
            };
            let chunk = (
                Instant::now() + delay,
                buf[..n].to_vec(),
                Held::new(&counters),
            );
            if tx.send(chunk).is_err() {
                break;
            }
        }
    };
    // The reader ends at EOF and drops its sender; the writer then drains what is held.
    tokio::join!(reader, writer);
}
