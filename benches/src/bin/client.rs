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
//! - `client quit <port>`: asks the server to exit (callgrind then writes its profile).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

struct Reply {
    status: u16,
    set_cookie: Option<String>,
}

impl Conn {
    fn open(port: u16) -> std::io::Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
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
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(std::io::Error::other("chunked replies are not expected"));
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok(Reply { status, set_cookie })
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
        Some("quit") => {
            if let Ok(mut c) = Conn::open(port(2)) {
                let _ = c.get("/quit", None);
            }
            Ok(())
        }
        _ => {
            eprintln!("usage: client wait|seed|seq|quit <port> …");
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
