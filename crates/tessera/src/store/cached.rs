//! [`CachedStore`]: a cache store in front of a database store (Django's `cached_db`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;
use tracing::warn;

use super::{Error, Expected, Loaded, Saved, SessionStore, SharedStore};
use crate::clock::{self, SharedClock};
use crate::id::SessionId;
use crate::record::{Data, Record, Version};

/// How long a cache operation may take before [`CachedStore`] gives up on it and uses the
/// database alone, unless [`CachedStore::with_cache_timeout`] says otherwise.
pub const DEFAULT_CACHE_TIMEOUT: StdDuration = StdDuration::from_millis(500);

/// The one key of a cached copy's data; the session's own data sits inside it.
const ENVELOPE: &str = "tessera:cached_db";

/// A cache in front of a database: reads hit the cache and fall back to the database (filling
/// the cache), writes go to the database and then to the cache, deletes and touches hit both.
///
/// Any two stores combine, for example Redis or memcached in front of a SQL store, or a
/// [`MemoryStore`](super::memory::MemoryStore) in front of a [`FileStore`](super::file::FileStore).
/// From configuration: `SESSION_URL` names the database and `SESSION_CACHE_URL` the cache.
///
/// # Versions: the database decides
///
/// [`load`](SessionStore::load) always answers with the **database's** version, even on a
/// cache hit, so every conditional write is decided by the database. The cached copy remembers
/// that version in an envelope: its data is a single key, `tessera:cached_db`, holding
/// `{"version": <database version>, "data": <the session's data>}`. The session's own data is
/// nested inside, so the envelope never mixes with it, and a copy of any other shape is
/// treated as a miss.
///
/// Keeping the cache honest:
/// - a database [`Saved::Conflict`] removes the cached copy, so the middleware's reload reads
///   the database (a stale copy in a per-process cache cannot cause endless conflicts);
/// - a write updates the cached copy only if it still holds the version the write replaced
///   (a conditional write on the cache's own version), and removes it otherwise; a new session
///   is added to the cache only if nothing is cached under its id;
/// - reads fill the cache only where nothing is cached (`Expected::Absent`);
/// - a cached copy past its deadline on this store's clock is a miss.
///
/// What remains is the race every cache-aside design has: a read that fetched the database
/// just before a concurrent write or delete may fill the cache after it, so later *reads* can
/// see the older session until its next write, which then conflicts, clears the copy and
/// retries on the database's version. No write is ever lost.
///
/// # Failures
///
/// The database's errors are the store's errors. The cache's errors (or a cache operation over
/// its timeout, [`DEFAULT_CACHE_TIMEOUT`] by default) never fail a request: they are logged
/// with `tracing::warn!` and the database answers alone. Keep the cache timeout well under the
/// middleware's store timeout.
///
/// ```
/// # #[cfg(feature = "memory")]
/// # async fn example(database: tessera::store::SharedStore) {
/// use std::sync::Arc;
/// use tessera::store::{cached::CachedStore, memory::MemoryStore};
///
/// let store = CachedStore::new(Arc::new(MemoryStore::new(10_000)), database);
/// # let _ = store; }
/// ```
#[derive(Debug, Clone)]
pub struct CachedStore {
    cache: SharedStore,
    db: SharedStore,
    clock: SharedClock,
    cache_timeout: StdDuration,
}

impl CachedStore {
    /// `cache` in front of `db`, judging cached copies' deadlines by the system clock.
    pub fn new(cache: SharedStore, db: SharedStore) -> Self {
        Self {
            cache,
            db,
            clock: clock::system(),
            cache_timeout: DEFAULT_CACHE_TIMEOUT,
        }
    }

    /// Judges cached copies' deadlines by `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Bounds every cache operation; past it the database answers alone.
    #[must_use]
    pub fn with_cache_timeout(mut self, timeout: StdDuration) -> Self {
        self.cache_timeout = timeout;
        self
    }

    /// The cache.
    pub fn cache(&self) -> &SharedStore {
        &self.cache
    }

    /// The database.
    pub fn db(&self) -> &SharedStore {
        &self.db
    }

    /// Runs a cache operation; a failure is logged and becomes `None` ([`best_effort`]).
    async fn cached<T>(
        &self,
        op: &'static str,
        id: &SessionId,
        fut: impl Future<Output = Result<T, Error>>,
    ) -> Option<T> {
        best_effort(self.cache_timeout, op, id, fut).await
    }

    /// Removes the cached copy, best effort.
    async fn invalidate(&self, id: &SessionId) {
        self.cached("delete", id, self.cache.delete(id)).await;
    }

    /// After the database wrote `record` at `version` replacing `expected`: bring the cache
    /// along without ever letting it run ahead of, or fall behind, the database unnoticed.
    async fn write_through(
        &self,
        id: &SessionId,
        record: &Record,
        version: Version,
        expected: Expected,
    ) {
        if record.is_expired(self.clock.now()) {
            return self.invalidate(id).await;
        }
        let copy = wrap(record, version);
        let cache_expected = match expected {
            Expected::Absent => Expected::Absent,
            Expected::Version(previous) => {
                let Some(current) = self.cached("load", id, self.cache.load(id)).await else {
                    return self.invalidate(id).await;
                };
                match current {
                    // Nothing cached: reads will fill it.
                    None => return,
                    Some(c) if unwrap(&c.record).map(|(v, _)| v) == Some(previous) => {
                        Expected::Version(c.version)
                    }
                    Some(_) => return self.invalidate(id).await,
                }
            }
        };
        match self
            .cached("save", id, self.cache.save(id, &copy, cache_expected))
            .await
        {
            Some(Saved::Written(_)) => {}
            Some(Saved::Conflict) | None => self.invalidate(id).await,
        }
    }
}

/// Runs `fut`, an operation on the cache in front of a database, bounded by `timeout`: its value,
/// or `None` after logging why it failed or ran out of time, so the database answers alone.
/// The stores that put a cache in front of a database ([`CachedStore`],
/// [`DjangoCachedDbStore`](super::django_cached_db::DjangoCachedDbStore)) run every cache
/// operation through it.
pub(super) async fn best_effort<T>(
    timeout: StdDuration,
    op: &'static str,
    id: &SessionId,
    fut: impl Future<Output = Result<T, Error>>,
) -> Option<T> {
    let error = match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(value)) => return Some(value),
        Ok(Err(error)) => error,
        Err(_) => Error::Timeout { op, after: timeout },
    };
    warn!(session = %id, op, error = %crate::chain::Chain(&error), "session cache failed; using the database alone");
    None
}

/// The cached copy of a database record at `version`.
fn wrap(record: &Record, version: Version) -> Record {
    let mut envelope = serde_json::Map::new();
    envelope.insert("version".into(), Value::from(version.get()));
    envelope.insert(
        "data".into(),
        Value::Object(
            record
                .data
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
    );
    let mut data = Data::new();
    data.insert(ENVELOPE.into(), Value::Object(envelope));
    Record::new(data, record.expiry, record.expires_at).with_meta(record.meta.clone())
}

/// The database version and record inside a cached copy, if it is one.
fn unwrap(copy: &Record) -> Option<(Version, Record)> {
    if copy.data.len() != 1 {
        return None;
    }
    let envelope = copy.data.get(ENVELOPE)?.as_object()?;
    let version = Version::new(envelope.get("version")?.as_u64()?);
    let data: Data = envelope
        .get("data")?
        .as_object()?
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some((
        version,
        Record {
            data: Arc::new(data),
            expiry: copy.expiry,
            expires_at: copy.expires_at,
            meta: copy.meta.clone(),
        },
    ))
}

#[async_trait]
impl SessionStore for CachedStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        let cache_works = match self
            .cached("load", id, async {
                match self.cache.load(id).await {
                    // A copy the cache cannot decode is a miss, not a failure.
                    Err(Error::Corrupt { .. }) => Ok(Err(())),
                    other => other.map(Ok),
                }
            })
            .await
        {
            Some(Ok(Some(copy))) => {
                match unwrap(&copy.record) {
                    Some((version, record)) if !record.is_expired(self.clock.now()) => {
                        return Ok(Some(Loaded { record, version }));
                    }
                    _ => self.invalidate(id).await,
                }
                true
            }
            Some(Ok(None)) => true,
            Some(Err(())) => {
                self.invalidate(id).await;
                true
            }
            None => false,
        };
        let loaded = self.db.load(id).await?;
        if let (Some(found), true) = (&loaded, cache_works) {
            let copy = wrap(&found.record, found.version);
            // Fill only an empty slot: never overwrite what a concurrent write put there.
            let _ = self
                .cached("save", id, self.cache.save(id, &copy, Expected::Absent))
                .await;
        }
        Ok(loaded)
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error> {
        let saved = self.db.save(id, record, expected).await?;
        match saved {
            Saved::Written(version) => self.write_through(id, record, version, expected).await,
            // The cached copy (if any) is behind the database: drop it so the reload reads
            // the database.
            Saved::Conflict => self.invalidate(id).await,
        }
        Ok(saved)
    }

    async fn reload(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        // A conflict just proved the cached copy stale: drop it, and let the next plain load
        // fill the cache again.
        self.invalidate(id).await;
        self.db.reload(id).await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.db.delete(id).await?;
        self.invalidate(id).await;
        Ok(())
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error> {
        let touched = self.db.touch(id, expires_at).await?;
        if touched {
            if self
                .cached("touch", id, self.cache.touch(id, expires_at))
                .await
                .is_none()
            {
                self.invalidate(id).await;
            }
        } else {
            self.invalidate(id).await;
        }
        Ok(touched)
    }

    /// The database's: it is the one that keeps the profile's format.
    fn profile(&self) -> crate::Profile {
        self.db.profile()
    }

    async fn clear_expired(&self) -> Result<u64, Error> {
        let removed = self.db.clear_expired().await?;
        if let Err(error) = self.cache.clear_expired().await {
            warn!(error = %crate::chain::Chain(&error), "session cache failed to clear expired copies");
        }
        Ok(removed)
    }

    async fn clear_expired_in_batches(
        &self,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, Error> {
        let removed = self.db.clear_expired_in_batches(progress).await?;
        if let Err(error) = self.cache.clear_expired().await {
            warn!(error = %crate::chain::Chain(&error), "session cache failed to clear expired copies");
        }
        Ok(removed)
    }

    fn server_expires(&self) -> bool {
        self.db.server_expires()
    }

    /// The database's records: the cache holds copies of some of them.
    fn list(&self) -> super::Listing<'_> {
        self.db.list()
    }

    /// The database's index: the database is where sessions are sure to be.
    fn user_index(&self) -> Result<&dyn super::UserIndex, Error> {
        self.db.user_index()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_never_mix_with_data() {
        let mut data = Data::new();
        data.insert(ENVELOPE.into(), Value::from("user data with the same key"));
        data.insert("user".into(), Value::from("ada"));
        let record = Record::new(data, crate::Expiry::Default, OffsetDateTime::UNIX_EPOCH);
        let copy = wrap(&record, Version::new(9));
        assert_eq!(copy.data.len(), 1);
        assert_eq!(unwrap(&copy), Some((Version::new(9), record.clone())));
        // A plain record (the user's own data) is never taken for a copy.
        assert_eq!(unwrap(&record), None);
    }
}
