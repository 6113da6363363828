//! [`MemoryStore`]: a bounded in-process store (feature `memory`).

use std::sync::Arc;

use async_trait::async_trait;
use moka::future::Cache;
use moka::ops::compute::{CompResult, Op};
use time::OffsetDateTime;

use super::{Error, Expected, Loaded, Saved, SessionStore};
use crate::clock::{self, SharedClock};
use crate::id::SessionId;
use crate::record::{Record, Version};

/// How many sessions a [`MemoryStore`] opened by URL holds unless `capacity` says otherwise.
pub const DEFAULT_CAPACITY: u64 = 100_000;

#[derive(Debug, Clone)]
struct Entry {
    record: Record,
    version: Version,
}

/// Sessions in this process's memory: for one-process services, development and tests.
///
/// Bounded: past `capacity` sessions the least recently used are evicted (moka's TinyLFU), and
/// every record is dropped at its deadline. Writes are conditional and atomic per session, so
/// concurrent requests on one session lose no update. Sessions do not survive a restart and are
/// not shared between processes.
///
/// ```
/// use tessera::store::memory::MemoryStore;
///
/// let store = MemoryStore::new(50_000);
/// # let _ = store;
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStore {
    cache: Cache<SessionId, Arc<Entry>>,
    clock: SharedClock,
}

struct Deadline {
    clock: SharedClock,
}

impl moka::Expiry<SessionId, Arc<Entry>> for Deadline {
    fn expire_after_create(
        &self,
        _: &SessionId,
        entry: &Arc<Entry>,
        _: std::time::Instant,
    ) -> Option<std::time::Duration> {
        Some(remaining(&self.clock, entry))
    }

    fn expire_after_update(
        &self,
        _: &SessionId,
        entry: &Arc<Entry>,
        _: std::time::Instant,
        _: Option<std::time::Duration>,
    ) -> Option<std::time::Duration> {
        Some(remaining(&self.clock, entry))
    }
}

fn remaining(clock: &SharedClock, entry: &Entry) -> std::time::Duration {
    let left = entry.record.expires_at - clock.now();
    std::time::Duration::try_from(left).unwrap_or_default()
}

impl MemoryStore {
    /// A store holding at most `capacity` sessions.
    pub fn new(capacity: u64) -> Self {
        Self::build(capacity, clock::system())
    }

    fn build(capacity: u64, clock: SharedClock) -> Self {
        let cache = Cache::builder()
            .name("tessera-sessions")
            .max_capacity(capacity)
            .expire_after(Deadline {
                clock: clock.clone(),
            })
            .build();
        Self { cache, clock }
    }

    /// Judges expiry by `clock` instead of the system clock (an empty store keeps its
    /// capacity; call it right after [`MemoryStore::new`]).
    pub fn with_clock(self, clock: SharedClock) -> Self {
        Self::build(
            self.cache
                .policy()
                .max_capacity()
                .unwrap_or(DEFAULT_CAPACITY),
            clock,
        )
    }

    /// A store from a URL: `memory`, `memory://` or `memory://?capacity=N`.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let rest = url
            .strip_prefix("memory")
            .ok_or_else(|| bad("expected the scheme `memory`".into()))?;
        let query = match rest {
            "" | ":" | "://" => "",
            _ => rest
                .strip_prefix("://?")
                .or_else(|| rest.strip_prefix(":?"))
                .ok_or_else(|| bad("expected `memory` or `memory://?capacity=N`".into()))?,
        };
        let mut capacity = DEFAULT_CAPACITY;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "capacity" => {
                    capacity = value.parse().ok().filter(|c| *c > 0).ok_or_else(|| {
                        bad(format!("capacity {value:?} is not a positive whole number"))
                    })?;
                }
                other => return Err(bad(format!("unknown parameter {other:?}; known: capacity"))),
            }
        }
        Ok(Self::new(capacity))
    }

    /// How many sessions the store holds now (approximate until pending evictions run).
    pub fn len(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Whether the store holds no session (approximate, like [`MemoryStore::len`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        let now = self.clock.now();
        Ok(self.cache.get(id).await.and_then(|entry| {
            (!entry.record.is_expired(now)).then(|| Loaded {
                record: entry.record.clone(),
                version: entry.version,
            })
        }))
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error> {
        let now = self.clock.now();
        let result = self
            .cache
            .entry_by_ref(id)
            .and_compute_with(|current| {
                let current = current
                    .map(|e| e.into_value())
                    .filter(|e| !e.record.is_expired(now));
                let next = match (expected, &current) {
                    (Expected::Absent, None) => Some(Version::FIRST),
                    (Expected::Version(v), Some(cur)) if cur.version == v => Some(v.next()),
                    _ => None,
                };
                let op = match next {
                    Some(_) if record.is_expired(now) => Op::Remove,
                    Some(version) => Op::Put(Arc::new(Entry {
                        record: record.clone(),
                        version,
                    })),
                    None => Op::Nop,
                };
                std::future::ready(op)
            })
            .await;
        let saved = match result {
            CompResult::Inserted(e) | CompResult::ReplacedWith(e) => {
                Saved::Written(e.into_value().version)
            }
            // An expired record written with a matching precondition is a delete.
            CompResult::Removed(e) => Saved::Written(e.into_value().version.next()),
            CompResult::Unchanged(_) | CompResult::StillNone(_) => Saved::Conflict,
        };
        Ok(saved)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.cache.invalidate(id).await;
        Ok(())
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error> {
        let now = self.clock.now();
        let result = self
            .cache
            .entry_by_ref(id)
            .and_compute_with(|current| {
                let op = match current.map(|e| e.into_value()) {
                    Some(e) if !e.record.is_expired(now) => {
                        let mut entry = Entry::clone(&e);
                        entry.record.expires_at = expires_at;
                        Op::Put(Arc::new(entry))
                    }
                    _ => Op::Nop,
                };
                std::future::ready(op)
            })
            .await;
        Ok(matches!(result, CompResult::ReplacedWith(_)))
    }

    async fn clear_expired(&self) -> Result<u64, Error> {
        let now = self.clock.now();
        let expired: Vec<Arc<SessionId>> = self
            .cache
            .iter()
            .filter(|(_, e)| e.record.is_expired(now))
            .map(|(id, _)| id)
            .collect();
        for id in &expired {
            self.cache.invalidate(&**id).await;
        }
        self.cache.run_pending_tasks().await;
        Ok(expired.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(MemoryStore::from_url("memory").is_ok());
        assert!(MemoryStore::from_url("memory://").is_ok());
        let s = MemoryStore::from_url("memory://?capacity=7").unwrap();
        assert_eq!(s.cache.policy().max_capacity(), Some(7));
        assert!(MemoryStore::from_url("memory://?capacity=0").is_err());
        assert!(MemoryStore::from_url("memory://?size=3").is_err());
        assert!(MemoryStore::from_url("memory://elsewhere").is_err());
    }
}
