//! [`DjangoCachedDbStore`]: Django's `cached_db` engine, its database row and its cache entry
//! kept as Django keeps them.

use std::future::Future;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use time::OffsetDateTime;
use tracing::warn;

use super::cached::DEFAULT_CACHE_TIMEOUT;
use super::{Error, Expected, Loaded, Saved, SessionStore, SharedStore};
use crate::clock::{self, SharedClock};
use crate::id::SessionId;
use crate::interop::pyjson::{self, Ascii, Keys};
use crate::interop::{django, Profile};
use crate::record::{Record, Version};

/// Django's `cached_db` engine: the `django_session` row is the truth, and Django's own cache
/// entry (`:1:django.contrib.sessions.cached_db<key>`, the pickled session dict) is kept as
/// Django keeps it, so a Django app reading that cache sees every write and every logout made
/// through tessera on its very next request.
///
/// `cache` is a Redis or memcached store opened for the `django` profile with
/// [`CacheEngine::CachedDb`](crate::interop::django::CacheEngine::CachedDb) (what
/// [`Storage::from_config`](crate::Storage::from_config) opens `SESSION_CACHE_URL` as), `db` a
/// [`DjangoDbStore`](crate::store::sql::DjangoDbStore).
///
/// - **Reads** take the cache entry when there is one, as Django does; on a miss they read the
///   row and fill the entry if it is still absent.
/// - **Writes** go to the database, then set the cache entry (Django's order), then check that
///   the row is still the one written: if another writer got in between, the entry is removed
///   rather than left behind the database.
/// - **Deletes** (logout, flush, a cycled id) remove the row, then the entry.
/// - **Versions**: neither Django's entry nor its row carries a version, and the row's bytes
///   differ from the entry's, so a session's version here is a hash of its dict as Django
///   holds it, whichever copy it was read from. A write first reads the row and goes ahead,
///   conditionally on the row's own bytes, only if the row holds the dict that was read;
///   otherwise it is a [`Saved::Conflict`], and the middleware's reload reads the row. No
///   update is lost, between tessera's processes or with Django's (whose writes are
///   unconditional), at the cost of one more read of the row per write.
///
/// The cache's failures (or an operation past the cache timeout, [`DEFAULT_CACHE_TIMEOUT`] by
/// default) never fail a request: they are logged and the database answers alone; a failed
/// write to the entry is followed by an attempt to remove it.
///
/// ```
/// # async fn example(cache: tessera::store::SharedStore, db: tessera::store::SharedStore) {
/// use tessera::store::django_cached_db::DjangoCachedDbStore;
///
/// let store = DjangoCachedDbStore::new(cache, db);
/// # let _ = store; }
/// ```
#[derive(Debug, Clone)]
pub struct DjangoCachedDbStore {
    cache: SharedStore,
    db: SharedStore,
    clock: SharedClock,
    cache_timeout: StdDuration,
}

impl DjangoCachedDbStore {
    /// Django's cache entry store `cache` in front of its database store `db`.
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

    /// Runs a cache operation; a failure is logged and becomes `None`
    /// ([`best_effort`](super::cached::best_effort)).
    async fn cached<T>(
        &self,
        op: &'static str,
        id: &SessionId,
        fut: impl Future<Output = Result<T, Error>>,
    ) -> Option<T> {
        super::cached::best_effort(self.cache_timeout, op, id, fut).await
    }

    /// Removes the cache entry, best effort.
    async fn invalidate(&self, id: &SessionId) {
        self.cached("delete", id, self.cache.delete(id)).await;
    }

    /// Sets the cache entry to `record`, which the database holds at `version`, as Django's
    /// `cache.set` does; then removes it again if the row moved on meanwhile.
    async fn write_through(&self, id: &SessionId, record: &Record, version: Version) {
        if record.is_expired(self.clock.now()) {
            return self.invalidate(id).await;
        }
        let Some(current) = self.cached("load", id, load_entry(&self.cache, id)).await else {
            return self.invalidate(id).await;
        };
        let expected = current.map_or(Expected::Absent, Expected::Version);
        match self
            .cached("save", id, self.cache.save(id, record, expected))
            .await
        {
            Some(Saved::Written(_)) => {}
            Some(Saved::Conflict) | None => return self.invalidate(id).await,
        }
        match self.db.load(id).await {
            Ok(Some(row)) if row.version == version => {}
            Ok(_) => self.invalidate(id).await,
            Err(error) => {
                warn!(session = %id, error = %crate::chain::Chain(&error), "could not re-read the session row after writing Django's cache entry; removing the entry");
                self.invalidate(id).await;
            }
        }
    }
}

/// The version of the cache entry under `id` (an unreadable one counts as present), if any.
async fn load_entry(cache: &SharedStore, id: &SessionId) -> Result<Option<Version>, Error> {
    match cache.load(id).await {
        Ok(found) => Ok(found.map(|l| l.version)),
        // An entry tessera cannot read (a pickled datetime) is still there, at no version a
        // write can name: the write conflicts and the entry is removed.
        Err(Error::Corrupt { .. }) => Ok(Some(Version::new(0))),
        Err(error) => Err(error),
    }
}

/// The version of a session: a hash of its dict as Django holds it, whichever copy it was
/// read from.
fn dict_version(record: &Record) -> Version {
    use sha2::{Digest, Sha256};
    // Django's dict, its keys sorted at every level (serde_json may keep insertion order).
    let dict: serde_json::Map<String, serde_json::Value> =
        django::dict_from_record(record).into_iter().collect();
    let text = pyjson::dumps(
        &serde_json::Value::Object(dict),
        Keys::Sorted,
        Ascii::Escape,
    );
    let digest = Sha256::digest(text.as_bytes());
    let mut be = [0u8; 8];
    be.copy_from_slice(&digest[..8]);
    Version::new(u64::from_be_bytes(be))
}

/// `loaded` with its version as this store gives it.
fn by_dict(loaded: Loaded) -> Loaded {
    Loaded {
        version: dict_version(&loaded.record),
        record: loaded.record,
    }
}

#[async_trait]
impl SessionStore for DjangoCachedDbStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        let cache_works = match self
            .cached("load", id, async {
                match self.cache.load(id).await {
                    // An entry tessera cannot decode is a miss here: the row decides.
                    Err(Error::Corrupt { .. }) => Ok(Err(())),
                    other => other.map(Ok),
                }
            })
            .await
        {
            Some(Ok(Some(entry))) if !entry.record.is_expired(self.clock.now()) => {
                return Ok(Some(by_dict(entry)));
            }
            Some(Ok(Some(_)) | Err(())) => {
                self.invalidate(id).await;
                true
            }
            Some(Ok(None)) => true,
            None => false,
        };
        let loaded = self.db.load(id).await?;
        if let (Some(row), true) = (&loaded, cache_works) {
            // As Django fills it after a miss; only an empty slot, never over a concurrent
            // writer's entry.
            let _ = self
                .cached(
                    "save",
                    id,
                    self.cache.save(id, &row.record, Expected::Absent),
                )
                .await;
        }
        Ok(loaded.map(by_dict))
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error> {
        let expected = match expected {
            Expected::Absent => Expected::Absent,
            // Go ahead only if the row holds what was read, and only while it still does.
            Expected::Version(v) => match self.db.reload(id).await? {
                Some(row) if dict_version(&row.record) == v => Expected::Version(row.version),
                _ => {
                    self.invalidate(id).await;
                    return Ok(Saved::Conflict);
                }
            },
        };
        match self.db.save(id, record, expected).await? {
            Saved::Written(version) => {
                self.write_through(id, record, version).await;
                Ok(Saved::Written(dict_version(record)))
            }
            Saved::Conflict => {
                self.invalidate(id).await;
                Ok(Saved::Conflict)
            }
        }
    }

    async fn reload(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        self.invalidate(id).await;
        Ok(self.db.reload(id).await?.map(by_dict))
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.db.delete(id).await?;
        self.invalidate(id).await;
        Ok(())
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error> {
        let touched = self.db.touch(id, expires_at).await?;
        let moved = touched
            && self
                .cached("touch", id, self.cache.touch(id, expires_at))
                .await
                .is_some();
        if !moved {
            self.invalidate(id).await;
        }
        Ok(touched)
    }

    async fn clear_expired(&self) -> Result<u64, Error> {
        // The cache expires its entries itself.
        self.db.clear_expired().await
    }

    async fn clear_expired_in_batches(
        &self,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, Error> {
        self.db.clear_expired_in_batches(progress).await
    }

    fn server_expires(&self) -> bool {
        self.db.server_expires()
    }

    /// The database's rows: the cache holds copies of some of them.
    fn list(&self) -> super::Listing<'_> {
        self.db.list()
    }

    /// The database's index: the database is where sessions are sure to be.
    fn user_index(&self) -> Result<&dyn super::UserIndex, Error> {
        self.db.user_index()
    }

    fn profile(&self) -> Profile {
        self.db.profile()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Expiry;
    use time::macros::datetime;
    use time::Duration;

    fn record(user: &str, expiry: Expiry, at: OffsetDateTime) -> Record {
        let mut data = crate::Data::new();
        data.insert("_auth_user_id".into(), user.into());
        Record::new(data, expiry, at)
    }

    #[test]
    fn versions_follow_the_dict_not_the_deadline() {
        let at = datetime!(2030-01-01 0:00 UTC);
        let a = record("1", Expiry::Default, at);
        let v = dict_version(&a);
        // A touch moves the deadline, not the version.
        assert_eq!(
            dict_version(&record("1", Expiry::Default, at + Duration::hours(1))),
            v
        );
        assert_ne!(dict_version(&record("2", Expiry::Default, at)), v);
        assert_ne!(
            dict_version(&record("1", Expiry::Age(Duration::seconds(60)), at)),
            v,
            "_session_expiry is part of Django's dict"
        );
    }
}
