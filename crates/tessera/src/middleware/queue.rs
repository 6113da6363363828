//! One commit at a time per session in this process.
//!
//! Requests of one session that finish together would otherwise race each other through the
//! store: each conditional write but the first fails, reloads and tries again, and under load
//! most requests spend their time retrying. Instead every commit of an existing session takes
//! its session's turn here, so only one store write per session is in flight in this process,
//! and the turn remembers what the previous commit wrote: a request loaded before that write
//! lays its changes over it at once, without a failed write and a reload. Conflicts with other
//! app servers are still found by the store's conditional write.
//!
//! A session's queue outlives its last turn for a while (the most recently idle ones, a bounded
//! number per shard), so a request that loaded the session before a commit that has already
//! finished still finds that commit's record.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::id::SessionId;
use crate::record::Version;
use crate::store::{self, Loaded};

/// Shards of the map of sessions with a commit in progress (their lock is held only to find
/// or drop an entry).
const SHARDS: usize = 16;
/// How many replaced versions a turn remembers: a request loaded from one of them is known to
/// be behind the turn's latest record.
const REPLACED_KEPT: usize = 64;
/// How many idle queues a shard keeps (so a layer keeps at most `SHARDS` times this many).
const IDLE_KEPT: usize = 64;

type Queue = Arc<AsyncMutex<Tail>>;

/// The sessions of one layer with a commit in progress or waiting, or recently finished.
#[derive(Debug, Default)]
pub(crate) struct CommitQueues {
    shards: [Mutex<Shard>; SHARDS],
}

#[derive(Debug, Default)]
struct Shard {
    queues: HashMap<SessionId, Queue>,
    /// Sessions whose last turn ended, oldest first (an id may appear more than once).
    idle: VecDeque<SessionId>,
}

/// What the commits of one session in this process have learnt about it.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    /// The record the last commit wrote or read, with its version.
    latest: Option<Loaded>,
    /// Versions known to be replaced, newest last.
    replaced: VecDeque<Version>,
}

/// A commit's exclusive turn on its session; the next waiting commit goes when it is dropped.
pub(crate) struct Turn<'a> {
    queues: &'a CommitQueues,
    id: SessionId,
    queue: Queue,
    tail: Option<OwnedMutexGuard<Tail>>,
}

impl CommitQueues {
    fn shard(&self, id: &SessionId) -> MutexGuard<'_, Shard> {
        let byte = id.expose().as_bytes().last().copied().unwrap_or(0);
        self.shards[usize::from(byte) % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for `id`'s turn, at most `wait`.
    pub(crate) async fn enter(
        &self,
        id: &SessionId,
        wait: Duration,
    ) -> Result<Turn<'_>, store::Error> {
        let queue = self.shard(id).queues.entry(id.clone()).or_default().clone();
        let mut turn = Turn {
            queues: self,
            id: id.clone(),
            tail: None,
            queue,
        };
        let tail = match turn.queue.clone().try_lock_owned() {
            Ok(tail) => tail,
            // Dropping `turn` on the timeout leaves the queue as it was.
            Err(_) => tokio::time::timeout(wait, turn.queue.clone().lock_owned())
                .await
                .map_err(|_| store::Error::Timeout {
                    op: "wait for the session's previous save",
                    after: wait,
                })?,
        };
        turn.tail = Some(tail);
        Ok(turn)
    }

    /// How many sessions have a queue (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .queues
                    .len()
            })
            .sum()
    }
}

impl Turn<'_> {
    fn tail(&mut self) -> Option<&mut Tail> {
        self.tail.as_deref_mut()
    }

    /// The record to lay a request's changes over instead of the one at `version`, when a
    /// commit in this process has replaced that version since.
    pub(crate) fn newer_than(&self, version: Version) -> Option<&Loaded> {
        let tail = self.tail.as_deref()?;
        let latest = tail.latest.as_ref()?;
        (latest.version != version && tail.replaced.contains(&version)).then_some(latest)
    }

    /// `version` is no longer the stored one.
    pub(crate) fn replaced(&mut self, version: Version) {
        if let Some(tail) = self.tail() {
            if tail.replaced.len() == REPLACED_KEPT {
                tail.replaced.pop_front();
            }
            tail.replaced.push_back(version);
        }
    }

    /// The store now holds `loaded` (written or read by this commit).
    pub(crate) fn holds(&mut self, loaded: Loaded) {
        if let Some(tail) = self.tail() {
            tail.latest = Some(loaded);
        }
    }

    /// The session was deleted.
    pub(crate) fn deleted(&mut self) {
        if let Some(tail) = self.tail() {
            tail.latest = None;
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.tail.take());
        let mut shard = self.queues.shard(&self.id);
        // Every handle on a queue is taken under its shard's lock: two (the map's and ours)
        // means no commit waits for this session; it joins the idle ones, and the oldest idle
        // queue beyond the bound goes.
        if Arc::strong_count(&self.queue) == 2 {
            shard.idle.push_back(self.id.clone());
            while shard.idle.len() > IDLE_KEPT {
                let Some(oldest) = shard.idle.pop_front() else {
                    break;
                };
                // Only the map holds an idle queue; one in use again joins the idle ones anew
                // when its turns end.
                if shard
                    .queues
                    .get(&oldest)
                    .is_some_and(|q| Arc::strong_count(q) == 1 && oldest != self.id)
                {
                    shard.queues.remove(&oldest);
                }
            }
        }
    }
}

impl std::fmt::Debug for Turn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiry::Expiry;
    use crate::record::Record;
    use time::macros::datetime;

    const WAIT: Duration = Duration::from_secs(5);

    fn loaded(version: u64) -> Loaded {
        Loaded {
            record: Record::new(
                Default::default(),
                Expiry::Default,
                datetime!(2030-01-01 0:00 UTC),
            ),
            version: Version::new(version),
        }
    }

    #[tokio::test]
    async fn turns_are_exclusive_and_a_later_commit_learns_from_an_idle_queue() {
        let queues = CommitQueues::default();
        let id = SessionId::parse("abcdefgh").unwrap();
        let mut first = queues.enter(&id, WAIT).await.unwrap();
        let second = tokio::time::timeout(Duration::from_millis(20), queues.enter(&id, WAIT));
        assert!(second.await.is_err(), "the second commit waits");
        first.replaced(Version::new(1));
        first.holds(loaded(2));
        drop(first);
        let later = queues.enter(&id, WAIT).await.unwrap();
        assert_eq!(
            later.newer_than(Version::new(1)).map(|l| l.version),
            Some(Version::new(2)),
            "loaded before the first commit, which has finished"
        );
    }

    #[tokio::test]
    async fn idle_queues_are_bounded() {
        let queues = CommitQueues::default();
        let ids: Vec<_> = (0..SHARDS * IDLE_KEPT * 3)
            .map(|i| SessionId::parse(&format!("session{i:06}")).unwrap())
            .collect();
        for id in &ids {
            queues.enter(id, WAIT).await.unwrap().holds(loaded(1));
        }
        assert!(queues.len() <= SHARDS * IDLE_KEPT, "{} kept", queues.len());
        // The most recent is still there.
        let mut last = queues.enter(ids.last().unwrap(), WAIT).await.unwrap();
        last.replaced(Version::new(0));
        assert!(last.newer_than(Version::new(0)).is_some());
    }

    #[tokio::test]
    async fn a_waiting_commit_learns_what_the_previous_one_wrote() {
        let queues = Arc::new(CommitQueues::default());
        let id = SessionId::parse("abcdefgh").unwrap();
        let mut first = queues.enter(&id, WAIT).await.unwrap();
        let waiter = {
            let queues = queues.clone();
            let id = id.clone();
            tokio::spawn(async move {
                let turn = queues.enter(&id, WAIT).await.unwrap();
                (
                    turn.newer_than(Version::new(1)).map(|l| l.version),
                    turn.newer_than(Version::new(2)).map(|l| l.version),
                    turn.newer_than(Version::new(7)).map(|l| l.version),
                )
            })
        };
        tokio::task::yield_now().await;
        first.replaced(Version::new(1));
        first.holds(loaded(2));
        drop(first);
        let (stale, current, unknown) = waiter.await.unwrap();
        assert_eq!(
            stale,
            Some(Version::new(2)),
            "loaded from a replaced version"
        );
        assert_eq!(current, None, "already the latest");
        assert_eq!(unknown, None, "not known to be older: the store decides");
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_is_bounded() {
        let queues = CommitQueues::default();
        let id = SessionId::parse("abcdefgh").unwrap();
        let first = queues.enter(&id, WAIT).await.unwrap();
        let err = queues
            .enter(&id, Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(matches!(err, store::Error::Timeout { .. }), "{err}");
        drop(first);
        assert_eq!(queues.len(), 1, "one idle queue");
    }
}
