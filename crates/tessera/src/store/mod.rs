//! Server-side stores: the [`SessionStore`] trait every store implements, its [`Error`], and
//! [`open()`] to pick a store from a URL.
//!
//! A store keeps [`Record`]s by [`SessionId`] and knows nothing of HTTP. Each store module sits
//! behind the cargo feature of the same name.

pub mod cached;
#[cfg(feature = "file")]
mod dir_listing;
#[cfg(feature = "file")]
mod dir_user_index;
#[cfg(any(feature = "redis", feature = "memcached"))]
mod django_cache;
pub mod django_cached_db;
#[cfg(feature = "file")]
pub mod django_file;
mod error;
#[cfg(feature = "file")]
pub mod file;
#[cfg(feature = "file")]
pub mod flask_session_file;
pub mod hashed_ids;
pub mod listing;
mod matrix;
#[cfg(feature = "memcached")]
pub mod memcached;
#[cfg(feature = "memory")]
pub mod memory;
#[cfg(feature = "mongodb")]
pub mod mongodb;
mod open;
mod options;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub mod sql;
mod url;
pub mod user_index;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

pub use error::Error;
pub use listing::{Listed, Listing};
pub use matrix::Support;
pub use open::open;
pub use options::{OpenOptions, DEFAULT_STORE_TIMEOUT};
pub use url::Backend;
pub use user_index::UserIndex;

use crate::id::SessionId;
use crate::interop::Profile;
use crate::record::{Record, Version};

/// A record as loaded, with the version a conditional write must name.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The record.
    pub record: Record,
    /// Its version.
    pub version: Version,
}

/// The precondition of a [`SessionStore::save`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Create the record; fail if a record with this id exists.
    Absent,
    /// Replace the record only if it is still at this version.
    Version(Version),
}

/// What a [`SessionStore::save`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Saved {
    /// The record was written; this is its new version.
    Written(Version),
    /// The precondition failed: the record was created, changed or deleted meanwhile.
    Conflict,
}

/// Where sessions live on the server.
///
/// The trait is object-safe (`Arc<dyn SessionStore>` is what the middleware holds) and small:
/// five operations to implement ([`load`](Self::load), [`save`](Self::save),
/// [`delete`](Self::delete), [`touch`](Self::touch), [`clear_expired`](Self::clear_expired)),
/// three with defaults a store overrides when it can do better ([`reload`](Self::reload),
/// [`exists`](Self::exists), [`clear_expired_in_batches`](Self::clear_expired_in_batches)),
/// one optional capability for operators' tools ([`list`](Self::list)), and three that
/// describe the store ([`profile`](Self::profile), [`bounded_by`](Self::bounded_by),
/// [`server_expires`](Self::server_expires)). Every write is conditional, so no store loses an update when two requests
/// on one session race: [`save`](Self::save) names the [`Version`] it loaded, or
/// [`Expected::Absent`] for a new session, and a store answers [`Saved::Conflict`] when the
/// stored record no longer matches. The middleware then reloads, re-applies its request's
/// changes and tries again.
///
/// Rules every store follows (the conformance suite checks them):
/// - `load` never returns a record whose `expires_at` has passed, even if it is still stored;
/// - `save` of a record whose `expires_at` has passed is a delete;
/// - a record that cannot be decoded is [`Error::Corrupt`], never a panic;
/// - `touch` moves the deadline without rewriting the data and without changing the version;
/// - every operation finishes or fails within the store's own timeout.
///
/// ```
/// # #[cfg(feature = "memory")]
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::{memory::MemoryStore, Expected, Saved, SessionStore};
/// use tessera::{Expiry, Record, SessionId};
/// use time::{Duration, OffsetDateTime};
///
/// let store = MemoryStore::new(10_000);
/// let id = SessionId::generate()?;
/// let record = Record::new(Default::default(), Expiry::Default, OffsetDateTime::now_utc() + Duration::hours(1));
/// let Saved::Written(v1) = store.save(&id, &record, Expected::Absent).await? else { unreachable!() };
/// assert_eq!(store.load(&id).await?.map(|l| l.version), Some(v1));
/// assert_eq!(store.save(&id, &record, Expected::Absent).await?, Saved::Conflict);
/// # Ok(()) }
/// ```
#[async_trait]
pub trait SessionStore: fmt::Debug + Send + Sync + 'static {
    /// The record stored under `id`, if any and not expired.
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error>;

    /// Writes `record` under `id` if `expected` still holds.
    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error>;

    /// Removes the record; removing an absent record is not an error.
    async fn delete(&self, id: &SessionId) -> Result<(), Error>;

    /// Moves the record's deadline to `expires_at` without rewriting it; false if absent.
    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error>;

    /// Removes expired records and returns how many; stores whose server expires records
    /// itself return 0.
    async fn clear_expired(&self) -> Result<u64, Error>;

    /// [`clear_expired`](Self::clear_expired) for a long run (Django's `clearsessions`):
    /// stores that can remove records in batches, each bounded by the store's timeout, do,
    /// and call `progress` with the running total after each; the others clear everything at
    /// once and call it once. Returns the total.
    async fn clear_expired_in_batches(
        &self,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, Error> {
        let removed = self.clear_expired().await?;
        progress(removed);
        Ok(removed)
    }

    /// Whether the store's server removes expired records itself (Redis' and memcached's
    /// TTLs, MongoDB's TTL index), so [`clear_expired`](Self::clear_expired) has nothing to
    /// do.
    fn server_expires(&self) -> bool {
        false
    }

    /// Every record the store holds, expired ones it still keeps included, in no particular
    /// order and a page at a time (never all of them in memory at once): what operators'
    /// tools list, count and migrate. A record stored for the whole listing is listed at least
    /// once (Redis' `SCAN` may repeat one); one written or removed meanwhile may or may not
    /// be. Optional: stores that cannot enumerate their records keep this default, a listing
    /// that fails at once with [`Error::Unsupported`].
    fn list(&self) -> Listing<'_> {
        listing::unsupported("this session store", "it cannot enumerate its records")
    }

    /// The index of this store's sessions by user ([`UserIndex`]), which "log out everywhere"
    /// and "your active sessions" need. Optional: stores that cannot keep one (memcached,
    /// whose keys cannot be enumerated reliably or kept together) keep this default, an
    /// [`Error::Unsupported`] that says so.
    fn user_index(&self) -> Result<&dyn UserIndex, Error> {
        Err(user_index::unsupported(
            "this session store",
            "it keeps no index of sessions by user",
        ))
    }

    /// Loads `id` from the source of truth, bypassing any cache in front of it. The
    /// middleware calls it after a conflicting save, when a cached copy is known to be
    /// behind; stores without a cache keep this default.
    async fn reload(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        self.load(id).await
    }

    /// Whose format the store keeps records in ([`Profile::Native`] unless it was opened for
    /// another profile); the middleware refuses a store whose profile differs from the
    /// configuration's.
    fn profile(&self) -> Profile {
        Profile::Native
    }

    /// Whether a live record is stored under `id` (Django's `exists`).
    async fn exists(&self, id: &SessionId) -> Result<bool, Error> {
        Ok(self.load(id).await?.is_some())
    }

    /// The bound this store enforces on each of its operations itself, if it does: an
    /// operation not done by then fails with [`Error::Timeout`]. The middleware arms no timer
    /// of its own around a store whose bound is within the configured store timeout, which
    /// spares a timer registration per store call. `None` (the default) keeps the middleware's
    /// timer.
    fn bounded_by(&self) -> Option<std::time::Duration> {
        None
    }
}

/// A shared, type-erased store.
pub type SharedStore = Arc<dyn SessionStore>;

/// A version token for records that carry none (Python's): the first 48 bits of the SHA-256
/// of the stored bytes. A conditional write compares it with the stored bytes' token.
#[cfg(any(
    feature = "file",
    feature = "mongodb",
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite"
))]
pub(crate) fn content_version(bytes: &[u8]) -> Version {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    let mut be = [0u8; 8];
    be[2..].copy_from_slice(&digest[..6]);
    Version::new(u64::from_be_bytes(be))
}
