//! The benchmark client: plain blocking HTTP/1.1 over one keep-alive connection, so that it
//! costs the server nothing beyond the requests themselves.
//!
//! - `client wait <port>`: waits (up to 120 s) until the server accepts connections.
//! - `client seed <port> <count> <out>`: `GET /create` `count` times without a cookie, and writes
//!   the session cookies the server set to `out`, one `name=value` a line.
//! - `client seq <port> <path> <n> [cookies]`: `n` requests one after another, rotating over
//!   the cookies; fails on any status but 200.
//! - `client fill <port> <count> <connections>`: `count` first visits (`GET /create`, no cookie)
//!   spread over that many keep-alive connections, to fill a store with live sessions.
//! - `client hot <port> <connections> <seconds> <cookie-file> [max-requests]`: the hot-session
//!   scenario: `connections` threads, one keep-alive connection each, all sending the session
//!   cookie on the first line of `cookie-file` with `GET /incr`, until `seconds` have passed or
//!   `max-requests` (default 5,000,000) have been sent in all. Records every status and every
//!   latency and prints one line:
//!   `HOT requests=… seconds=… rps=… p50_us=… p99_us=… ok=… other=… io_errors=… new_cookies=…`
//!   (`other`: the answers that were not 200, as `status:count,…`, or `-`; `io_errors`: requests
//!   that got no answer; `new_cookies`: answers whose `Set-Cookie` value differs from the
//!   cookie sent, which the client ignores: it keeps sending the first one).
//! - `client count <port> <cookie-file>`: `GET /count` with that cookie; prints the body.
//! - `client quit <port>`: asks the server to exit (callgrind then writes its profile).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

struct Reply {
    status: u16,
    set_cookie: Option<String>,
    /// The server said `Connection: close`: open another connection for the next request.
    close: bool,
    body: Vec<u8>,
}

impl Conn {
    fn open(port: u16) -> std::io::Result<Self> {
        Self::open_with_timeout(port, Duration::from_secs(120))
    }

    fn open_with_timeout(port: u16, timeout: Duration) -> std::io::Result<Self> {
        // Loopback only.
        let stream = TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            timeout,
        )?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Self {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    fn get(&mut self, path: &str, cookie: Option<&str>) -> std::io::Result<Reply> {
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        if let Some(c) = cookie {
            req.push_str("Cookie: ");
            req.push_str(c);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        self.writer.write_all(req.as_bytes())?;

        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut length = 0usize;
        let mut set_cookie = None;
        let mut close = false;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let Some((name, value)) = l.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("set-cookie") {
                let pair = value.split(';').next().unwrap_or_default().to_owned();
                // A removal (empty value) is not a session.
                if !pair.ends_with('=') {
                    set_cookie = Some(pair);
                }
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(std::io::Error::other("chunked replies are not expected"));
            }
        }
        if line.is_empty() {
            return Err(std::io::Error::other("the connection closed mid-reply"));
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok(Reply {
            status,
            set_cookie,
            close,
            body,
        })
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = |i: usize| -> u16 { args.get(i).and_then(|p| p.parse().ok()).expect("port") };
    let result = match args.get(1).map(String::as_str) {
        Some("wait") => wait(port(2)),
        Some("seed") => seed(port(2), args[3].parse().expect("count"), &args[4]),
        Some("seq") => seq(
            port(2),
            &args[3],
            args[4].parse().expect("n"),
            args.get(5).map(String::as_str),
        ),
        Some("fill") => fill(
            port(2),
            args[3].parse().expect("count"),
            args[4].parse().expect("connections"),
        ),
        Some("hot") => hot(
            port(2),
            args[3].parse().expect("connections"),
            args[4].parse().expect("seconds"),
            &args[5],
            args.get(6)
                .map_or(5_000_000, |n| n.parse().expect("max-requests")),
        ),
        Some("count") => count(port(2), &args[3]),
        Some("quit") => {
            if let Ok(mut c) = Conn::open(port(2)) {
                let _ = c.get("/quit", None);
            }
            Ok(())
        }
        _ => {
            eprintln!("usage: client wait|seed|seq|fill|hot|count|quit <port> …");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("client: {e}");
        std::process::exit(1);
    }
}

fn wait(port: u16) -> std::io::Result<()> {
    let start = Instant::now();
    loop {
        if let Ok(mut c) = Conn::open(port) {
            if c.get("/none", None)
                .map(|r| r.status == 200)
                .unwrap_or(false)
            {
                return Ok(());
            }
        }
        if start.elapsed() > Duration::from_secs(120) {
            return Err(std::io::Error::other("the server did not come up"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn seed(port: u16, count: usize, out: &str) -> std::io::Result<()> {
    let mut conn = Conn::open(port)?;
    let mut cookies = Vec::with_capacity(count);
    for _ in 0..count {
        let reply = conn.get("/create", None)?;
        if reply.status != 200 {
            return Err(std::io::Error::other(format!("/create: {}", reply.status)));
        }
        if let Some(c) = reply.set_cookie {
            cookies.push(c);
        }
    }
    let mut text = cookies.join("\n");
    text.push('\n');
    std::fs::write(out, text)
}

fn seq(port: u16, path: &str, n: usize, cookies: Option<&str>) -> std::io::Result<()> {
    let cookies: Vec<String> = match cookies {
        Some(file) => std::fs::read_to_string(file)?
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    let mut conn = Conn::open(port)?;
    for i in 0..n {
        let cookie = (!cookies.is_empty()).then(|| cookies[i % cookies.len()].as_str());
        let reply = conn.get(path, cookie)?;
        if reply.status != 200 {
            return Err(std::io::Error::other(format!("{path}: {}", reply.status)));
        }
    }
    Ok(())
}

fn fill(port: u16, count: usize, connections: usize) -> std::io::Result<()> {
    let connections = connections.max(1);
    let workers: Vec<_> = (0..connections)
        .map(|i| {
            let share = count / connections + usize::from(i < count % connections);
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut conn = Conn::open(port)?;
                for _ in 0..share {
                    let reply = conn.get("/create", None)?;
                    if reply.status != 200 {
                        return Err(std::io::Error::other(format!("/create: {}", reply.status)));
                    }
                }
                Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker
            .join()
            .map_err(|_| std::io::Error::other("a fill thread panicked"))??;
    }
    Ok(())
}

fn first_cookie(file: &str) -> std::io::Result<String> {
    std::fs::read_to_string(file)?
        .lines()
        .find(|l| !l.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| std::io::Error::other(format!("no cookie in {file}")))
}

fn count(port: u16, cookie_file: &str) -> std::io::Result<()> {
    let cookie = first_cookie(cookie_file)?;
    let reply = Conn::open(port)?.get("/count", Some(&cookie))?;
    if reply.status != 200 {
        return Err(std::io::Error::other(format!("/count: {}", reply.status)));
    }
    let body = String::from_utf8_lossy(&reply.body);
    let n: u64 = body
        .trim()
        .parse()
        .map_err(|_| std::io::Error::other(format!("/count: not a number: {body:?}")))?;
    println!("{n}");
    Ok(())
}

/// What one hot-session connection saw.
#[derive(Default)]
struct HotTally {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    io_errors: u64,
    new_cookies: u64,
}

fn hot(
    port: u16,
    connections: usize,
    seconds: f64,
    cookie_file: &str,
    max_requests: usize,
) -> std::io::Result<()> {
    if !(seconds > 0.0 && seconds <= 600.0) {
        return Err(std::io::Error::other("seconds: between 0 and 600"));
    }
    let connections = connections.clamp(1, 1024);
    let cookie = Arc::new(first_cookie(cookie_file)?);
    let per_connection = max_requests.div_ceil(connections);
    // A request that takes longer than this counts as an I/O error.
    let timeout = Duration::from_secs(10);
    let duration = Duration::from_secs_f64(seconds);
    let barrier = Arc::new(Barrier::new(connections + 1));
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (cookie, barrier) = (cookie.clone(), barrier.clone());
            std::thread::spawn(move || -> std::io::Result<HotTally> {
                let mut conn = Conn::open_with_timeout(port, timeout).ok();
                let mut tally = HotTally {
                    latencies_us: Vec::with_capacity(per_connection.min(1 << 20)),
                    ..HotTally::default()
                };
                barrier.wait();
                let start = Instant::now();
                let mut sent = 0;
                while sent < per_connection && start.elapsed() < duration {
                    let mut c = match conn.take() {
                        Some(c) => c,
                        None => match Conn::open_with_timeout(port, timeout) {
                            Ok(c) => c,
                            Err(_) => {
                                // Nothing is listening: count it, and retry shortly (bounded
                                // by the same loop).
                                sent += 1;
                                tally.io_errors += 1;
                                std::thread::sleep(Duration::from_millis(10));
                                continue;
                            }
                        },
                    };
                    sent += 1;
                    let t = Instant::now();
                    match c.get("/incr", Some(&cookie)) {
                        Ok(reply) => {
                            let us = t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                            tally.latencies_us.push(us);
                            *tally.statuses.entry(reply.status).or_default() += 1;
                            if reply.set_cookie.is_some_and(|c| c != *cookie) {
                                tally.new_cookies += 1;
                            }
                            if !reply.close {
                                conn = Some(c);
                            }
                        }
                        // The connection is dropped; the next request opens another.
                        Err(_) => tally.io_errors += 1,
                    }
                }
                Ok(tally)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let mut all = HotTally::default();
    for worker in workers {
        let tally = worker
            .join()
            .map_err(|_| std::io::Error::other("a hot thread panicked"))??;
        all.latencies_us.extend(tally.latencies_us);
        for (status, n) in tally.statuses {
            *all.statuses.entry(status).or_default() += n;
        }
        all.io_errors += tally.io_errors;
        all.new_cookies += tally.new_cookies;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.latencies_us.sort_unstable();
    let percentile = |p: f64| -> u32 {
        let v = &all.latencies_us;
        if v.is_empty() {
            return 0;
        }
        let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    };
    let answered = all.latencies_us.len();
    let ok = all.statuses.get(&200).copied().unwrap_or(0);
    let other: Vec<String> = all
        .statuses
        .iter()
        .filter(|(status, _)| **status != 200)
        .map(|(status, n)| format!("{status}:{n}"))
        .collect();
    println!(
        "HOT requests={answered} seconds={elapsed:.3} rps={:.1} p50_us={} p99_us={} ok={ok} other={} io_errors={} new_cookies={}",
        answered as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
        if other.is_empty() { "-".to_owned() } else { other.join(",") },
        all.io_errors,
        all.new_cookies,
    );
    Ok(())
}
