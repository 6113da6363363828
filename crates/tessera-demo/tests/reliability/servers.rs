//! Store servers the test owns, on free loopback ports (never the shared ones): Redis without
//! persistence, memcached, and a PostgreSQL cluster made with `initdb` in a temporary
//! directory. A signal goes to the server's whole process tree (PostgreSQL's backends, which
//! each call `setsid`, with their postmaster), as a crash or a freeze of its machine would.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Redis,
    Memcached,
    Postgres,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::Memcached => "memcached",
            Self::Postgres => "postgres",
        }
    }

    /// Whether the server keeps its data across a kill -9 (PostgreSQL's WAL does; Redis
    /// without persistence and memcached keep nothing).
    pub(crate) fn keeps_data(self) -> bool {
        self == Self::Postgres
    }

    /// The `SESSION_URL` of a store on `port`.
    pub(crate) fn url(self, port: u16) -> String {
        match self {
            Self::Redis => format!("redis://127.0.0.1:{port}"),
            Self::Memcached => format!("memcached://127.0.0.1:{port}"),
            Self::Postgres => format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        }
    }
}

/// A server process group; killed when dropped.
pub(crate) struct Server {
    pub(crate) kind: Kind,
    pub(crate) port: u16,
    child: Option<Child>,
    dir: Option<PathBuf>,
}

fn uid_gid(user: &str) -> std::io::Result<(u32, u32)> {
    let id = |flag: &str| -> std::io::Result<u32> {
        let out = Command::new("id").args([flag, user]).output()?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| std::io::Error::other(format!("no user {user}")))
    };
    Ok((id("-u")?, id("-g")?))
}

fn postgres_bin(name: &str) -> std::io::Result<PathBuf> {
    let out = Command::new("pg_config").arg("--bindir").output();
    if let Ok(out) = out {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join(name).exists() {
            return Ok(dir.join(name));
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().ok_or_else(|| {
        std::io::Error::other(format!("no PostgreSQL {name} under /usr/lib/postgresql"))
    })
}

impl Server {
    pub(crate) fn start(kind: Kind, port: u16) -> std::io::Result<Self> {
        let dir = match kind {
            Kind::Postgres => Some(init_postgres(port)?),
            Kind::Redis | Kind::Memcached => None,
        };
        let mut server = Self {
            kind,
            port,
            child: None,
            dir,
        };
        server.spawn()?;
        Ok(server)
    }

    fn command(&self) -> std::io::Result<Command> {
        let port = self.port.to_string();
        let mut command = match self.kind {
            Kind::Redis => {
                let mut c = Command::new("redis-server");
                c.args([
                    "--port",
                    &port,
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ]);
                c
            }
            Kind::Memcached => {
                let user = if uid_gid("memcache").is_ok() {
                    "memcache"
                } else {
                    "nobody"
                };
                let mut c = Command::new("memcached");
                c.args(["-p", &port, "-l", "127.0.0.1", "-u", user, "-m", "64"]);
                c
            }
            Kind::Postgres => {
                let dir = self
                    .dir
                    .as_ref()
                    .expect("a PostgreSQL server has a data directory");
                let (uid, gid) = uid_gid("postgres")?;
                let mut c = Command::new(postgres_bin("postgres")?);
                c.arg("-D")
                    .arg(dir.join("data"))
                    .args(["-p", &port, "-c", "listen_addresses=127.0.0.1"])
                    .arg("-c")
                    .arg(format!("unix_socket_directories={}", dir.display()))
                    .uid(uid)
                    .gid(gid);
                c
            }
        };
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Ok(command)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        self.child = Some(self.command()?.spawn()?);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                Ok(_) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// The server's process and its descendants, found before any is signalled (a killed
    /// postmaster's children would be reparented).
    fn tree(&self) -> Vec<String> {
        let Some(root) = self.child.as_ref().map(Child::id) else {
            return Vec::new();
        };
        let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| {
                let pid: u32 = e.file_name().to_str()?.parse().ok()?;
                let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
                // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
                let ppid = stat
                    .rsplit_once(')')?
                    .1
                    .split_whitespace()
                    .nth(1)?
                    .parse()
                    .ok()?;
                Some((pid, ppid))
            })
            .collect();
        let mut tree = vec![root];
        let mut i = 0;
        while i < tree.len() {
            let parent = tree[i];
            tree.extend(
                parents
                    .iter()
                    .filter(|(_, pp)| *pp == parent)
                    .map(|(p, _)| *p),
            );
            i += 1;
        }
        tree.iter().map(u32::to_string).collect()
    }

    /// Signals the tree; a backend that exited since the tree was read is no failure.
    fn send(&self, signal: &str) {
        let pids = self.tree();
        if !pids.is_empty() {
            let _ = Command::new("kill")
                .arg(signal)
                .args(&pids)
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Sends `signal` (`-STOP`, `-CONT`) to the server's processes.
    pub(crate) fn signal(&mut self, signal: &str) {
        let alive = self
            .child
            .as_mut()
            .is_some_and(|c| c.try_wait().is_ok_and(|s| s.is_none()));
        assert!(alive, "the server is not running: cannot send {signal}");
        self.send(signal);
    }

    /// kill -9, and waits until it is gone.
    pub(crate) fn kill9(&mut self) {
        if self.child.is_some() {
            self.send("-KILL");
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
            // The postmaster's children are in its group and died with it; give the kernel a
            // moment to release the port before the restart binds it again.
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Starts it again on the same port (and, for PostgreSQL, the same data: crash recovery);
    /// returns once it accepts connections.
    pub(crate) fn restart(&mut self) {
        self.spawn().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.send("-CONT");
        }
        self.kill9();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A new cluster in a temporary directory owned by the `postgres` user (PostgreSQL refuses
/// to run as root).
fn init_postgres(port: u16) -> std::io::Result<PathBuf> {
    let (uid, gid) = uid_gid("postgres")?;
    let dir = std::env::temp_dir().join(format!(
        "tessera-reliability-pg-{}-{port}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
    let out = Command::new(postgres_bin("initdb")?)
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-U", "postgres", "-A", "trust", "--no-sync"])
        .current_dir(&dir)
        .uid(uid)
        .gid(gid)
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(dir)
}
