//! [`HashedIdStore`]: records kept under a keyed hash of the session id (`SESSION_HASH_IDS`),
//! so a dump of the store holds no id a client could present.
//!
//! # Key rotation
//!
//! The hash is keyed by a subkey of `SECRET_KEY` ([`Purpose::IdHash`]). With
//! `SECRET_KEY_FALLBACKS` set, a record not found under the current key's hash is looked for
//! under each fallback's, and one found there is moved: written under the current hash (same
//! data, same deadline) and removed from the old one. Sessions therefore survive a rotation and
//! move to the new key as they are used; those not used before they expire simply expire.
//!
//! **Rolling deploys:** an instance still running without the new key hashes ids with the old
//! one and cannot find a record another instance has moved, so its users see a fresh session.
//! Rotate on all instances together. (Adding the new key first as a fallback everywhere does
//! not make a rolling change safe either: an instance moves any record it finds under a
//! fallback to its own current key's hash, so instances on either side of the change would
//! move records back and forth.)

use std::fmt;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use time::OffsetDateTime;
use tracing::warn;

use super::{Error, Expected, Loaded, Saved, SessionStore, SharedStore};
use crate::crypto::{KeyRing, Purpose};
use crate::id::SessionId;
use crate::interop::Profile;
use crate::record::Record;

/// A store wrapper that keeps each record under a keyed hash of its session id instead of the
/// id itself: whoever reads the inner store (a Redis dump, a database backup, the session
/// directory) finds no cookie value to replay.
///
/// The stored key is the unpadded URL-safe base64 of keyed BLAKE3 (a 256-bit MAC) over the id,
/// with a key derived by HKDF from each secret of the [`KeyRing`] for [`Purpose::IdHash`]: 43
/// characters, a valid [`SessionId`] for any inner store. See the [module docs](self) for how
/// key rotation moves records.
///
/// Only for the native profile: Flask's, Flask-Session's and Django's apps look records up by
/// the bare id, so [`SessionConfig`](crate::SessionConfig) refuses `SESSION_HASH_IDS` with
/// another profile.
///
/// ```
/// # #[cfg(feature = "memory")]
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use tessera::crypto::{KeyRing, SecretKey};
/// use tessera::store::{hashed_ids::HashedIdStore, memory::MemoryStore, Expected, SessionStore};
/// use tessera::{Expiry, Record, SessionId};
/// use time::{Duration, OffsetDateTime};
///
/// let inner = Arc::new(MemoryStore::new(10_000));
/// let keys = KeyRing::new(SecretKey::new("k".repeat(32))?);
/// let store = HashedIdStore::new(inner.clone(), &keys);
/// let id = SessionId::generate()?;
/// let record = Record::new(Default::default(), Expiry::Default, OffsetDateTime::now_utc() + Duration::hours(1));
/// let _ = store.save(&id, &record, Expected::Absent).await?;
/// assert!(store.load(&id).await?.is_some());
/// assert!(inner.load(&id).await?.is_none(), "nothing is kept under the bare id");
/// assert!(inner.load(&store.stored_id(&id)).await?.is_some());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HashedIdStore {
    inner: SharedStore,
    /// One hashing key per secret of the ring, the current key's first.
    keys: Vec<[u8; 32]>,
}

impl HashedIdStore {
    /// `inner`, keyed by hashes made with `keys` (the current key writes, fallbacks are
    /// looked in and moved from).
    pub fn new(inner: SharedStore, keys: &KeyRing) -> Self {
        Self {
            inner,
            keys: keys.derive(Purpose::IdHash),
        }
    }

    /// The id `id`'s record is kept under in the inner store (with the current key): what a
    /// dump of the store shows instead of `id`.
    pub fn stored_id(&self, id: &SessionId) -> SessionId {
        self.hashed(0, id)
    }

    fn hashed(&self, key: usize, id: &SessionId) -> SessionId {
        let mac = blake3::keyed_hash(&self.keys[key], id.expose().as_bytes());
        // Unpadded URL-safe base64 only emits `A-Z a-z 0-9 - _`, the id charset.
        SessionId::from_trusted(URL_SAFE_NO_PAD.encode(mac.as_bytes()))
    }

    /// The ids `id` would be kept under with each fallback key, oldest last.
    fn fallback_ids<'a>(&'a self, id: &'a SessionId) -> impl Iterator<Item = SessionId> + 'a {
        (1..self.keys.len()).map(move |key| self.hashed(key, id))
    }

    async fn get(&self, id: &SessionId, fresh: bool) -> Result<Option<Loaded>, Error> {
        if fresh {
            self.inner.reload(id).await
        } else {
            self.inner.load(id).await
        }
    }

    /// `load` (or `reload` when `fresh`): the current hash first, then the fallbacks', moving
    /// a record found under a fallback.
    async fn find(&self, id: &SessionId, fresh: bool) -> Result<Option<Loaded>, Error> {
        let current = self.stored_id(id);
        if let Some(loaded) = self.get(&current, fresh).await? {
            return Ok(Some(loaded));
        }
        if self.keys.len() == 1 {
            return Ok(None);
        }
        for old in self.fallback_ids(id) {
            if let Some(found) = self.get(&old, fresh).await? {
                return self.migrate(id, &current, &old, found.record).await;
            }
        }
        // A concurrent request may have moved the record between the two reads above (written
        // under the current hash after the first, removed from the fallback before the
        // second): one more look keeps that from reading as a missing session.
        self.inner.reload(&current).await
    }

    /// Moves `record` from `old` to `current`; a concurrent request that moved it first wins.
    async fn migrate(
        &self,
        id: &SessionId,
        current: &SessionId,
        old: &SessionId,
        record: Record,
    ) -> Result<Option<Loaded>, Error> {
        match self.inner.save(current, &record, Expected::Absent).await? {
            Saved::Written(version) => {
                // The record is safe under the current hash; a copy left behind expires no
                // later than it (touches move only the current one), and a logout removes it.
                if let Err(error) = self.inner.delete(old).await {
                    warn!(session = %id, error = %crate::chain::Chain(&error), "a session moved to the current key's hash, but its copy under a fallback key's hash could not be removed");
                }
                Ok(Some(Loaded { record, version }))
            }
            Saved::Conflict => self.inner.reload(current).await,
        }
    }
}

impl fmt::Debug for HashedIdStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hashing keys stay out of logs.
        f.debug_struct("HashedIdStore")
            .field("inner", &self.inner)
            .field("keys", &self.keys.len())
            .finish()
    }
}

#[async_trait]
impl SessionStore for HashedIdStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        self.find(id, false).await
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error> {
        self.inner.save(&self.stored_id(id), record, expected).await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        // Every hash: a logout must not leave a copy a fallback key would find again.
        self.inner.delete(&self.stored_id(id)).await?;
        for old in self.fallback_ids(id) {
            self.inner.delete(&old).await?;
        }
        Ok(())
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error> {
        if self.inner.touch(&self.stored_id(id), expires_at).await? {
            return Ok(true);
        }
        for old in self.fallback_ids(id) {
            if self.inner.touch(&old, expires_at).await? {
                return Ok(true);
            }
        }
        Ok(false)
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

    /// Refused: the records' ids are hashes, which this store would hash again. Operators'
    /// tools list the store it wraps, by those hashes.
    fn list(&self) -> super::Listing<'_> {
        super::listing::unsupported(
            "a store with hashed ids",
            "it keeps records under hashes of the ids, not the ids; list the store it wraps",
        )
    }

    fn user_index(&self) -> Result<&dyn super::UserIndex, Error> {
        Err(super::user_index::unsupported(
            "a store with hashed ids",
            "an index would have to hold the ids it hashes away, or hashes no session can be \
             loaded by; turn SESSION_HASH_IDS off to keep sessions by user",
        ))
    }

    async fn reload(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        self.find(id, true).await
    }

    fn profile(&self) -> Profile {
        self.inner.profile()
    }

    async fn exists(&self, id: &SessionId) -> Result<bool, Error> {
        if self.inner.exists(&self.stored_id(id)).await? {
            return Ok(true);
        }
        for old in self.fallback_ids(id) {
            if self.inner.exists(&old).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn bounded_by(&self) -> Option<std::time::Duration> {
        // With fallbacks one operation is several inner ones, which the inner bound does not
        // cover together: the middleware's timer bounds them then.
        if self.keys.len() == 1 {
            self.inner.bounded_by()
        } else {
            None
        }
    }
}

#[cfg(all(test, feature = "memory"))]
mod tests {
    use std::sync::Arc;

    use time::Duration;

    use super::*;
    use crate::crypto::SecretKey;
    use crate::store::memory::MemoryStore;
    use crate::Expiry;

    fn ring(current: char, fallbacks: &[char]) -> KeyRing {
        fallbacks.iter().fold(
            KeyRing::new(SecretKey::new(current.to_string().repeat(32)).unwrap()),
            |ring, c| ring.with_fallback(SecretKey::new(c.to_string().repeat(32)).unwrap()),
        )
    }

    fn record() -> Record {
        let mut data = crate::Data::new();
        data.insert("user".into(), "ada".into());
        Record::new(
            data,
            Expiry::Default,
            OffsetDateTime::now_utc() + Duration::hours(1),
        )
    }

    #[test]
    fn stored_ids_are_valid_keyed_and_hide_the_id() {
        let inner: SharedStore = Arc::new(MemoryStore::new(10));
        let id = SessionId::generate().unwrap();
        let a = HashedIdStore::new(inner.clone(), &ring('a', &[]));
        let b = HashedIdStore::new(inner, &ring('b', &[]));
        let stored = a.stored_id(&id);
        assert_eq!(SessionId::parse(stored.expose()).unwrap(), stored);
        assert_eq!(stored.expose().len(), 43);
        assert_ne!(stored, id);
        assert_eq!(a.stored_id(&id), stored, "stable");
        assert_ne!(b.stored_id(&id), stored, "keyed");
        assert!(!format!("{a:?}").contains("aaaa"));
    }

    #[tokio::test]
    async fn a_fallback_record_moves_to_the_current_hash() {
        let inner: SharedStore = Arc::new(MemoryStore::new(10));
        let id = SessionId::generate().unwrap();
        let old = HashedIdStore::new(inner.clone(), &ring('a', &[]));
        let _ = old.save(&id, &record(), Expected::Absent).await.unwrap();
        let new = HashedIdStore::new(inner.clone(), &ring('b', &['a']));
        let written = old.load(&id).await.unwrap().unwrap().record;
        let loaded = new.load(&id).await.unwrap().unwrap();
        assert_eq!(loaded.record, written, "same data, same deadline");
        assert!(inner.load(&old.stored_id(&id)).await.unwrap().is_none());
        let moved = inner.load(&new.stored_id(&id)).await.unwrap().unwrap();
        assert_eq!(moved.version, loaded.version);
        assert!(new.exists(&id).await.unwrap());
        new.delete(&id).await.unwrap();
        assert!(!new.exists(&id).await.unwrap());
    }

    #[tokio::test]
    async fn delete_removes_every_hash() {
        let inner: SharedStore = Arc::new(MemoryStore::new(10));
        let id = SessionId::generate().unwrap();
        let (old, new) = (
            HashedIdStore::new(inner.clone(), &ring('a', &[])),
            HashedIdStore::new(inner.clone(), &ring('b', &['a'])),
        );
        let _ = old.save(&id, &record(), Expected::Absent).await.unwrap();
        let _ = new.save(&id, &record(), Expected::Absent).await.unwrap();
        new.delete(&id).await.unwrap();
        assert!(inner.load(&old.stored_id(&id)).await.unwrap().is_none());
        assert!(inner.load(&new.stored_id(&id)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn touch_reaches_a_fallback_record_in_place() {
        let inner: SharedStore = Arc::new(MemoryStore::new(10));
        let id = SessionId::generate().unwrap();
        let old = HashedIdStore::new(inner.clone(), &ring('a', &[]));
        let _ = old.save(&id, &record(), Expected::Absent).await.unwrap();
        let new = HashedIdStore::new(inner.clone(), &ring('b', &['a']));
        let later = OffsetDateTime::now_utc() + Duration::hours(5);
        assert!(new.touch(&id, later).await.unwrap());
        let kept = inner.load(&old.stored_id(&id)).await.unwrap().unwrap();
        assert_eq!(kept.record.expires_at, later);
        let other = SessionId::generate().unwrap();
        assert!(!new.touch(&other, later).await.unwrap());
    }
}
