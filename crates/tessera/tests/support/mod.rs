//! Helpers the server-store tests share: unique key prefixes, scratch directories, and a
//! wrapper that remembers which sessions a test wrote so it can remove them afterwards.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tessera::store::{Error, Expected, Loaded, Saved, SessionStore, SharedStore};
use tessera::{Record, SessionId};
use time::OffsetDateTime;

/// A random hex suffix, so parallel tests never share keys or directories.
pub fn unique(tag: &str) -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{tag}{hex}")
}

/// A record of `{"user": user}`, live for an hour by `clock`.
pub fn user_record(clock: &tessera::clock::ManualClock, user: &str) -> Record {
    let mut data = tessera::Data::new();
    data.insert("user".into(), user.into());
    Record::new(
        data,
        tessera::Expiry::Default,
        tessera::clock::Clock::now(clock) + time::Duration::hours(1),
    )
}

/// A harness over `store` and `peer`, judging expiry by `clock`, whose migration is
/// `migrate(store)`.
pub fn migrating_harness<S, F, Fut>(
    store: S,
    peer: S,
    clock: tessera::clock::ManualClock,
    migrate: F,
) -> tessera::conformance::Harness
where
    S: SessionStore + Clone,
    F: Fn(S) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), Error>> + Send + 'static,
{
    let migrator = store.clone();
    tessera::conformance::Harness::new(Arc::new(store), Arc::new(peer))
        .with_clock(clock)
        .with_migration(move || migrate(migrator.clone()))
}

/// A scratch directory, removed when dropped.
#[derive(Debug)]
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(unique(&format!("tessera-{tag}-")));
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn url(&self) -> String {
        format!("file://{}", self.0.display())
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `remove` over every id written through any [`Tracked`] sharing it, once all are
/// dropped (at the end of the test).
pub struct Cleanup {
    ids: Mutex<HashSet<SessionId>>,
    remove: Box<dyn Fn(Vec<SessionId>) + Send + Sync>,
    /// Anything else to keep alive as long as the stores (a scratch directory).
    _keep: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl Cleanup {
    pub fn new(remove: impl Fn(Vec<SessionId>) + Send + Sync + 'static) -> Arc<Self> {
        Self::keeping(remove, None)
    }

    pub fn keeping(
        remove: impl Fn(Vec<SessionId>) + Send + Sync + 'static,
        keep: Option<Box<dyn std::any::Any + Send + Sync>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            ids: Mutex::new(HashSet::new()),
            remove: Box::new(remove),
            _keep: keep,
        })
    }

    pub fn note(&self, id: &SessionId) {
        self.ids.lock().unwrap().insert(id.clone());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let ids: Vec<SessionId> = self.ids.lock().unwrap().drain().collect();
        if !ids.is_empty() {
            (self.remove)(ids);
        }
    }
}

/// A store that notes every id it writes in a [`Cleanup`], and otherwise passes through.
#[derive(Clone)]
pub struct Tracked {
    pub inner: SharedStore,
    pub cleanup: Arc<Cleanup>,
}

impl Tracked {
    pub fn shared(inner: SharedStore, cleanup: &Arc<Cleanup>) -> SharedStore {
        Arc::new(Self {
            inner,
            cleanup: cleanup.clone(),
        })
    }

    /// A harness over `store` and `peer`, both tracked by `cleanup`.
    pub fn harness(
        store: impl SessionStore,
        peer: impl SessionStore,
        cleanup: &Arc<Cleanup>,
    ) -> tessera::conformance::Harness {
        tessera::conformance::Harness::new(
            Self::shared(Arc::new(store), cleanup),
            Self::shared(Arc::new(peer), cleanup),
        )
    }
}

impl std::fmt::Debug for Tracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl SessionStore for Tracked {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        self.inner.load(id).await
    }
    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error> {
        self.cleanup.note(id);
        self.inner.save(id, record, expected).await
    }
    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.inner.delete(id).await
    }
    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error> {
        self.inner.touch(id, expires_at).await
    }
    async fn clear_expired(&self) -> Result<u64, Error> {
        self.inner.clear_expired().await
    }
    async fn clear_expired_in_batches(
        &self,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, Error> {
        self.inner.clear_expired_in_batches(progress).await
    }
    fn server_expires(&self) -> bool {
        self.inner.server_expires()
    }
    fn list(&self) -> tessera::store::Listing<'_> {
        self.inner.list()
    }
    async fn reload(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        self.inner.reload(id).await
    }
    async fn exists(&self, id: &SessionId) -> Result<bool, Error> {
        self.inner.exists(id).await
    }
    fn profile(&self) -> tessera::Profile {
        self.inner.profile()
    }
    fn user_index(&self) -> Result<&dyn tessera::store::UserIndex, Error> {
        self.inner.user_index()
    }
}

/// Deletes Redis keys over a plain synchronous connection (used from `Drop`).
#[cfg(feature = "redis")]
pub fn redis_remover(url: &str, keys: &[String]) {
    use redis::Commands as _;
    let result: redis::RedisResult<()> = (|| {
        if let Some(rest) = url.strip_prefix("redis+cluster://") {
            let nodes: Vec<String> = rest
                .split(['/', '?'])
                .next()
                .unwrap_or_default()
                .split(',')
                .map(|n| format!("redis://{n}"))
                .collect();
            let mut con = redis::cluster::ClusterClient::new(nodes)?.get_connection()?;
            for key in keys {
                let _: i64 = con.del(key)?;
            }
        } else {
            let mut con = redis::Client::open(url)?.get_connection()?;
            for key in keys {
                let _: i64 = con.del(key)?;
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        eprintln!("could not clean up test keys: {e}");
    }
}

/// Sends one memcached text-protocol command and reads the first reply line.
pub fn memcached_command(address: &str, command: &[u8]) -> std::io::Result<String> {
    use std::io::{BufRead as _, Write as _};
    let stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    (&stream).write_all(command)?;
    let mut line = String::new();
    std::io::BufReader::new(&stream).read_line(&mut line)?;
    Ok(line)
}

#[cfg(feature = "redis")]
pub mod redis_harness;

#[cfg(feature = "memcached")]
pub mod memcached_harness;

#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub mod sql;

#[cfg(feature = "mongodb")]
pub mod mongo;

#[cfg(feature = "axum")]
pub mod routes;
mod teardown;
#[allow(unused_imports)]
pub use teardown::{unique_name, Teardown};
