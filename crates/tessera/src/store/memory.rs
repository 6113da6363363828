//! [`MemoryStore`]: a bounded in-process store (feature `memory`).

mod user_index;

use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use hashbrown::{DefaultHashBuilder, HashTable};
use time::OffsetDateTime;

use super::{Error, Expected, Listed, Listing, Loaded, Saved, SessionStore, UserIndex};
use crate::clock::{self, SharedClock};
use crate::id::SessionId;
use crate::record::{Record, Version};
use user_index::MemoryUserIndex;

/// How many sessions a [`MemoryStore`] opened by URL holds unless `capacity` says otherwise.
pub const DEFAULT_CAPACITY: u64 = 100_000;

/// Sessions a full store's shard looks at to choose the one to evict, as Redis' approximated
/// LRU does: an expired one if any, else the least recently used of them. With eight, a
/// shard whose sessions are half stale evicts a recent one about once in 256 evictions.
const EVICTION_SAMPLES: usize = 8;

/// Most shards a store splits into.
const MAX_SHARDS: usize = 64;

/// Fewest sessions per shard at capacity: a small store has fewer shards.
const MIN_SHARD_SESSIONS: usize = 64;

/// Sessions in this process's memory: for one-process services, development and tests.
///
/// Bounded: a store holds `capacity` sessions (first visits racing on different shards may
/// briefly pass it by one each). It is split into shards (a few per CPU), each behind its own
/// lock; a new session in a full store evicts one from its shard: an expired session if one of
/// a few sampled is, else the least recently used of them. Expired sessions are never returned, are removed when read, sampled away as new ones
/// arrive, and all removed by [`clear_expired`](SessionStore::clear_expired). Writes are
/// conditional and atomic per session, so concurrent requests on one session lose no update.
/// Sessions do not survive a restart and are not shared between processes.
///
/// Ids are hashed with a per-process random seed; only ids the server generated are ever
/// inserted, so a client cannot fill a shard's table with colliding keys.
///
/// ```
/// use tessera::store::memory::MemoryStore;
///
/// let store = MemoryStore::new(50_000);
/// assert!(store.is_empty());
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
    users: Arc<MemoryUserIndex>,
    clock: SharedClock,
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    hasher: DefaultHashBuilder,
    capacity: usize,
    /// Sessions held, over all shards.
    len: AtomicUsize,
}

/// One shard: sessions in a vector (so that eviction can sample it), found by a hash table of
/// their positions.
struct Shard {
    table: HashTable<usize>,
    slots: Vec<Slot>,
    /// Advances on every access: a slot's `used` is its last access.
    tick: u64,
    /// xorshift state for sampling.
    rng: u64,
}

struct Slot {
    id: SessionId,
    hash: u64,
    record: Record,
    version: Version,
    used: u64,
}

impl Shard {
    fn new(seed: u64) -> Self {
        Self {
            table: HashTable::new(),
            slots: Vec::new(),
            tick: 0,
            // xorshift never leaves zero.
            rng: seed | 1,
        }
    }

    fn find(&self, hash: u64, id: &SessionId) -> Option<usize> {
        let slots = &self.slots;
        self.table.find(hash, |&i| slots[i].id == *id).copied()
    }

    /// The slot at `i`, marked as just used.
    fn used(&mut self, i: usize) -> &mut Slot {
        self.tick += 1;
        let slot = &mut self.slots[i];
        slot.used = self.tick;
        slot
    }

    fn random(&mut self) -> usize {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        // Only called on a non-empty shard.
        (x % self.slots.len() as u64) as usize
    }

    /// Removes the slot at `i`; `len` counts the store's sessions.
    fn remove(&mut self, i: usize, len: &AtomicUsize) {
        len.fetch_sub(1, Ordering::Relaxed);
        let hash = self.slots[i].hash;
        if let Ok(entry) = self.table.find_entry(hash, |&j| j == i) {
            entry.remove();
        }
        let last = self.slots.len() - 1;
        self.slots.swap_remove(i);
        if i != last {
            // The last slot moved to `i`: repoint its table entry.
            let moved = self.slots[i].hash;
            if let Some(position) = self.table.find_mut(moved, |&j| j == last) {
                *position = i;
            }
        }
    }

    /// Adds `slot` to a store holding at most `capacity` sessions, `len` now.
    fn insert(&mut self, slot: Slot, now: OffsetDateTime, capacity: usize, len: &AtomicUsize) {
        if !self.slots.is_empty() {
            // Active expiry: every insert checks one random session of its shard.
            let i = self.random();
            if self.slots[i].record.is_expired(now) {
                self.remove(i, len);
            }
        }
        if len.load(Ordering::Relaxed) >= capacity {
            self.evict(now, len);
        }
        len.fetch_add(1, Ordering::Relaxed);
        let (hash, i) = (slot.hash, self.slots.len());
        self.slots.push(slot);
        let slots = &self.slots;
        self.table.insert_unique(hash, i, |&j| slots[j].hash);
        self.used(i);
    }

    fn evict(&mut self, now: OffsetDateTime, len: &AtomicUsize) {
        if self.slots.is_empty() {
            return;
        }
        let mut victim = self.random();
        for _ in 1..EVICTION_SAMPLES {
            if self.slots[victim].record.is_expired(now) {
                break;
            }
            let i = self.random();
            if self.slots[i].record.is_expired(now) || self.slots[i].used < self.slots[victim].used
            {
                victim = i;
            }
        }
        self.remove(victim, len);
    }

    fn clear_expired(&mut self, now: OffsetDateTime, len: &AtomicUsize) -> u64 {
        let mut removed = 0;
        let mut i = self.slots.len();
        while i > 0 {
            i -= 1;
            if self.slots[i].record.is_expired(now) {
                self.remove(i, len);
                removed += 1;
            }
        }
        removed
    }
}

impl Inner {
    fn new(capacity: u64) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX).max(1);
        // A power of two, so that the shard is a mask of the hash.
        let fits = (capacity / MIN_SHARD_SESSIONS).max(1);
        let count = (cpus * 4).min(fits).min(MAX_SHARDS);
        let count = 1 << count.ilog2();
        let hasher = DefaultHashBuilder::default();
        let shards = (0..count)
            .map(|k| Mutex::new(Shard::new(hasher.hash_one(k))))
            .collect();
        Self {
            shards,
            hasher,
            capacity,
            len: AtomicUsize::new(0),
        }
    }

    /// The hash of `id` and its shard, locked.
    fn shard(&self, id: &SessionId) -> (u64, MutexGuard<'_, Shard>) {
        let hash = self.hasher.hash_one(id);
        // Bits 32 and up pick the shard: the table uses the low bits and the top seven.
        let k = (hash >> 32) as usize & (self.shards.len() - 1);
        // A panic never leaves a shard half-changed (no operation panics between its steps),
        // so a poisoned lock's state is still consistent.
        let shard = self.shards[k]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        (hash, shard)
    }

    fn each_shard(&self) -> impl Iterator<Item = MutexGuard<'_, Shard>> {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl MemoryStore {
    /// A store holding at most `capacity` sessions.
    pub fn new(capacity: u64) -> Self {
        Self {
            inner: Arc::new(Inner::new(capacity)),
            users: Arc::new(MemoryUserIndex::new(clock::system())),
            clock: clock::system(),
        }
    }

    /// Judges expiry by `clock` instead of the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.users = Arc::new(self.users.with_clock(clock.clone()));
        self.clock = clock;
        self
    }

    /// How many sessions the store can hold.
    pub fn capacity(&self) -> u64 {
        self.inner.capacity as u64
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

    /// How many sessions the store holds now, expired ones not yet removed included.
    pub fn len(&self) -> u64 {
        self.inner.len.load(Ordering::Relaxed) as u64
    }

    /// Whether the store holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("capacity", &self.inner.capacity)
            .field("shards", &self.inner.shards.len())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        let now = self.clock.now();
        let (hash, mut shard) = self.inner.shard(id);
        let Some(i) = shard.find(hash, id) else {
            return Ok(None);
        };
        if shard.slots[i].record.is_expired(now) {
            shard.remove(i, &self.inner.len);
            return Ok(None);
        }
        let slot = shard.used(i);
        Ok(Some(Loaded {
            record: slot.record.clone(),
            version: slot.version,
        }))
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error> {
        let now = self.clock.now();
        let (hash, mut shard) = self.inner.shard(id);
        let found = shard.find(hash, id);
        let live = found.filter(|&i| !shard.slots[i].record.is_expired(now));
        let next = match (expected, live) {
            // A session replacing an expired record keeps counting, so a writer still holding
            // the expired one's version cannot match the new session.
            (Expected::Absent, None) => {
                found.map_or(Version::FIRST, |i| shard.slots[i].version.next())
            }
            (Expected::Version(v), Some(i)) if shard.slots[i].version == v => v.next(),
            _ => return Ok(Saved::Conflict),
        };
        match found {
            // An expired record written with a matching precondition is a delete.
            Some(i) if record.is_expired(now) => shard.remove(i, &self.inner.len),
            Some(i) => {
                let slot = shard.used(i);
                slot.record = record.clone();
                slot.version = next;
            }
            None if record.is_expired(now) => {}
            None => shard.insert(
                Slot {
                    id: id.clone(),
                    hash,
                    record: record.clone(),
                    version: next,
                    used: 0,
                },
                now,
                self.inner.capacity,
                &self.inner.len,
            ),
        }
        Ok(Saved::Written(next))
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        let (hash, mut shard) = self.inner.shard(id);
        if let Some(i) = shard.find(hash, id) {
            shard.remove(i, &self.inner.len);
        }
        Ok(())
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error> {
        let now = self.clock.now();
        let (hash, mut shard) = self.inner.shard(id);
        match shard.find(hash, id) {
            Some(i) if !shard.slots[i].record.is_expired(now) => {
                shard.used(i).record.expires_at = expires_at;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn clear_expired(&self) -> Result<u64, Error> {
        let now = self.clock.now();
        self.users.clear_expired().await?;
        Ok(self
            .inner
            .each_shard()
            .map(|mut shard| shard.clear_expired(now, &self.inner.len))
            .sum())
    }

    /// Entries in this process's memory, beside the sessions.
    fn user_index(&self) -> Result<&dyn UserIndex, Error> {
        Ok(self.users.as_ref())
    }

    /// One shard at a time, each copied out under its lock; a record's size is that of its
    /// data as JSON (about what a stored record takes; nothing here is encoded).
    fn list(&self) -> Listing<'_> {
        Box::pin(async_stream::stream! {
            for shard in &self.inner.shards {
                let page: Vec<Listed> = {
                    let shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
                    shard
                        .slots
                        .iter()
                        .map(|slot| {
                            let size = serde_json::to_vec(&*slot.record.data).map_or(0, |v| v.len());
                            Listed::new(
                                slot.id.clone(),
                                u64::try_from(size).unwrap_or(u64::MAX),
                                Some(slot.record.expires_at),
                            )
                        })
                        .collect()
                };
                for listed in page {
                    yield Ok(listed);
                }
            }
        })
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
        assert_eq!(s.capacity(), 7);
        assert!(MemoryStore::from_url("memory://?capacity=0").is_err());
        assert!(MemoryStore::from_url("memory://?size=3").is_err());
        assert!(MemoryStore::from_url("memory://elsewhere").is_err());
    }
}
