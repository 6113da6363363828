//! Listing what a store holds, page by page: [`Listed`], [`Listing`] and the capability's
//! default, a listing that fails at once with [`Error::Unsupported`].

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use time::OffsetDateTime;

use super::Error;
use crate::id::SessionId;

/// A stored session as [`SessionStore::list`](super::SessionStore::list) sees it: where it is,
/// how big and until when, not its data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Listed {
    /// The id the record is stored under (with `SESSION_HASH_IDS`, the hash of the cookie's).
    pub id: SessionId,
    /// The stored value's size in bytes, as the store holds it.
    pub size: u64,
    /// Its deadline, if it has one; a record the store still holds past it is listed too.
    pub expires_at: Option<OffsetDateTime>,
}

impl Listed {
    /// A listed record.
    pub fn new(id: SessionId, size: u64, expires_at: Option<OffsetDateTime>) -> Self {
        Self {
            id,
            size,
            expires_at,
        }
    }

    /// Whether its deadline has passed at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// The records of a store, as a stream: a store reads them a page at a time, so listing a
/// store of any size holds one page in memory. Poll it with any `Stream` combinator crate
/// (`futures::StreamExt::next`, `tokio_stream`), or with [`next`].
pub type Listing<'a> = Pin<Box<dyn Stream<Item = Result<Listed, Error>> + Send + 'a>>;

/// The next item of a listing.
///
/// ```
/// # #[cfg(feature = "memory")]
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::{listing, memory::MemoryStore, SessionStore};
///
/// let store = MemoryStore::new(100);
/// let mut all = store.list();
/// let mut count = 0;
/// while let Some(listed) = listing::next(&mut all).await {
///     let listed = listed?;
///     count += 1;
///     println!("{} bytes until {:?}", listed.size, listed.expires_at);
/// }
/// assert_eq!(count, 0);
/// # Ok(()) }
/// ```
pub async fn next(listing: &mut Listing<'_>) -> Option<Result<Listed, Error>> {
    std::future::poll_fn(|cx| listing.as_mut().poll_next(cx)).await
}

/// A listing that fails at once: what a store that cannot enumerate its records returns.
pub fn unsupported(store: &'static str, reason: &'static str) -> Listing<'static> {
    Box::pin(Once(Some(Error::Unsupported {
        op: "list",
        store,
        reason,
    })))
}

/// A listing of the records in `page`, for stores that read everything they list at once
/// (one shard or one directory at a time, say) and hand it over as one batch.
pub fn from_page(page: Vec<Listed>) -> Listing<'static> {
    Box::pin(Page(page.into_iter()))
}

struct Once(Option<Error>);

impl Stream for Once {
    type Item = Result<Listed, Error>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.take().map(Err))
    }
}

struct Page(std::vec::IntoIter<Listed>);

impl Stream for Page {
    type Item = Result<Listed, Error>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.next().map(Ok))
    }
}
