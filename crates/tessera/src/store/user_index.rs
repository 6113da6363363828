//! The per-user index a store may keep beside its sessions: [`UserIndex`], the capability
//! behind "log out everywhere" and "your active sessions".
//!
//! An index is a set of entries `(user, session id, until)`: the ids a user's sessions were
//! saved under, each kept at least until `until`. It is a candidate set, never the truth: a
//! session is a user's when its own record says so ([`Meta::user`](crate::record::Meta::user)).
//! [`crate::users::Users`] reads the entries, checks each against its record and prunes the
//! ones that no longer match (expired, deleted, cycled, or now another user's), so an index
//! never has to be updated in the same atomic step as the sessions it points to.
//!
//! What it must never do is miss a session: the middleware calls [`UserIndex::enter`] *before*
//! it writes a record that has a user, or moves its deadline, so every stored session of a user
//! has an entry that lasts at least as long as the session. A failed `enter` fails the commit.

use std::fmt;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::Error;
use crate::id::SessionId;

/// A store's index of sessions by user. See the [module docs](self) for what it promises.
///
/// Entries are keyed by `(user, id)`; a session saved for another user later has an entry
/// under each until the stale one is pruned. Every operation is bounded by the store's
/// timeout, like the store's own.
///
/// ```
/// # #[cfg(feature = "memory")]
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::{memory::MemoryStore, SessionStore};
/// use tessera::SessionId;
/// use time::{Duration, OffsetDateTime};
///
/// let store = MemoryStore::new(100);
/// let index = store.user_index()?;
/// let id = SessionId::generate()?;
/// index.enter("ada", &id, OffsetDateTime::now_utc() + Duration::hours(1)).await?;
/// assert_eq!(index.entries("ada").await?, vec![id.clone()]);
/// index.remove("ada", &[id]).await?;
/// assert!(index.entries("ada").await?.is_empty());
/// # Ok(()) }
/// ```
#[async_trait]
pub trait UserIndex: fmt::Debug + Send + Sync {
    /// Notes that the session `id` belongs to `user` until at least `until`: creates the entry,
    /// or moves its `until` later (never earlier). Idempotent. Called before the session's
    /// record is written or its deadline moved.
    async fn enter(&self, user: &str, id: &SessionId, until: OffsetDateTime) -> Result<(), Error>;

    /// The ids entered for `user` whose `until` has not passed, in no particular order, each
    /// once. Some may name sessions that are gone or no longer the user's: callers check them.
    async fn entries(&self, user: &str) -> Result<Vec<SessionId>, Error>;

    /// Removes the entries `(user, id)` for each of `ids`; absent ones are no error.
    async fn remove(&self, user: &str, ids: &[SessionId]) -> Result<(), Error>;

    /// Removes every entry whose `until` has passed and returns how many; an index whose
    /// server expires entries itself (Redis) returns 0. Stores call it from their
    /// [`clear_expired`](super::SessionStore::clear_expired).
    async fn clear_expired(&self) -> Result<u64, Error>;
}

/// The refusal of a store that keeps no index, naming the store and why.
pub(crate) fn unsupported(store: &'static str, reason: &'static str) -> Error {
    Error::Unsupported {
        op: "keep an index of sessions by user",
        store,
        reason,
    }
}
