//! Group commit: one store write at a time per session in this process, each carrying every
//! request that was waiting for it.
//!
//! Requests of one session that finish together would otherwise race each other through the
//! store: each conditional write but the first fails, reloads and tries again, and under load
//! most requests spend their time retrying. Instead the first commit of an existing session to
//! arrive *leads*: it lays its own changes, then those of every commit that queued behind it
//! meanwhile, over the latest record, one after another, and writes the result once. The next
//! commit to queue while that write is in flight leads the next group. Each request's merge is
//! its own: one whose read went stale is refused alone, the others are saved. Conflicts with
//! other app servers are still found by the store's conditional write.
//!
//! The queue also remembers the record its last write stored (for the most recently idle
//! sessions, a bounded number per shard), so a commit that loaded the session before that write
//! lays its changes over it at once, without a refused write and a reload.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use time::OffsetDateTime;
use tokio::sync::oneshot;

use super::SessionError;
use crate::expiry::Expiry;
use crate::id::SessionId;
use crate::record::Version;
use crate::session::Session;
use crate::store::Loaded;

/// Shards of the map of sessions with a queue (their lock is held only to find or drop one).
const SHARDS: usize = 16;
/// How many replaced versions a queue remembers: a commit loaded from one of them is known to
/// be behind the queue's latest record.
const REPLACED_KEPT: usize = 64;
/// How many idle queues a shard keeps (so a layer keeps at most `SHARDS` times this many).
const IDLE_KEPT: usize = 64;

type Queue = Arc<Mutex<Tail>>;

/// The sessions of one layer with a commit in progress or waiting, or recently finished.
#[derive(Debug, Default)]
pub(crate) struct CommitQueues {
    shards: [Mutex<Shard>; SHARDS],
}

#[derive(Debug, Default)]
struct Shard {
    queues: HashMap<SessionId, Queue>,
    /// Sessions whose last commit ended, oldest first (an id may appear more than once).
    idle: VecDeque<SessionId>,
}

/// One session's queue.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    /// A commit is leading.
    leading: bool,
    /// Commits waiting for the next group, in arrival order.
    waiting: VecDeque<Member>,
    /// The record the last write stored or the last reload read, with its version.
    latest: Option<Loaded>,
    /// Versions known to be replaced, newest last.
    replaced: VecDeque<Version>,
}

/// A commit waiting in a queue: its session (whose change log the leader lays over the
/// record), the version it loaded, and where its outcome goes.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) session: Session,
    pub(crate) version: Version,
    done: oneshot::Sender<Outcome>,
}

/// What the leader tells a waiting commit.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Saved at this version, with this expiry and deadline.
    Saved(Version, Expiry, OffsetDateTime),
    /// The merge emptied the session; it was deleted.
    Deleted,
    /// Not saved.
    Failed(SessionError),
    /// Lead the next group.
    Lead,
}

impl Member {
    /// A member that is not in a queue (a group's leader), with where its outcome arrives.
    pub(crate) fn new(session: Session, version: Version) -> (Self, oneshot::Receiver<Outcome>) {
        let (done, outcome) = oneshot::channel();
        (
            Self {
                session,
                version,
                done,
            },
            outcome,
        )
    }

    /// Sends the member its outcome (a commit whose request went away no longer listens).
    pub(crate) fn tell(self, outcome: Outcome) {
        let _ = self.done.send(outcome);
    }
}

/// How a commit entered its session's queue.
pub(crate) enum Joined<'a> {
    Lead(Lead<'a>),
    Follow(Follower<'a>),
}

/// The right to write a group; the next waiting commit leads when it is dropped.
pub(crate) struct Lead<'a> {
    queues: &'a CommitQueues,
    id: SessionId,
    queue: Queue,
}

/// A commit waiting for a leader to write it.
pub(crate) struct Follower<'a> {
    queues: &'a CommitQueues,
    id: SessionId,
    queue: Queue,
    outcome: oneshot::Receiver<Outcome>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves the state whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CommitQueues {
    fn shard(&self, id: &SessionId) -> MutexGuard<'_, Shard> {
        let byte = id.expose().as_bytes().last().copied().unwrap_or(0);
        lock(&self.shards[usize::from(byte) % SHARDS])
    }

    /// Enters `id`'s queue with `session`, loaded at `version`: leads at once if no commit
    /// leads, else waits to be written by the current group's successor.
    pub(crate) fn join(&self, id: &SessionId, session: &Session, version: Version) -> Joined<'_> {
        let queue = self.shard(id).queues.entry(id.clone()).or_default().clone();
        let mut tail = lock(&queue);
        if !tail.leading {
            tail.leading = true;
            drop(tail);
            return Joined::Lead(Lead {
                queues: self,
                id: id.clone(),
                queue,
            });
        }
        let (done, outcome) = oneshot::channel();
        tail.waiting.push_back(Member {
            session: session.clone(),
            version,
            done,
        });
        drop(tail);
        Joined::Follow(Follower {
            queues: self,
            id: id.clone(),
            queue,
            outcome,
        })
    }

    /// Forgets what `id`'s queue knows of its record (the session was deleted outside it).
    pub(crate) fn forget(&self, id: &SessionId) {
        let queue = self.shard(id).queues.get(id).cloned();
        if let Some(queue) = queue {
            lock(&queue).latest = None;
        }
    }

    /// How many sessions have a queue (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).queues.len()).sum()
    }
}

/// What a waiting commit learns.
pub(crate) enum Turn<'a> {
    /// Its group was written (or refused): the outcome.
    Done(Outcome),
    /// It leads the next group.
    Lead(Lead<'a>),
    /// Its leader went away without writing it (that request was dropped): join again.
    Rejoin,
}

impl<'a> Follower<'a> {
    /// Waits until the commit's group is written or the commit leads.
    pub(crate) async fn wait(self) -> Turn<'a> {
        let Self {
            queues,
            id,
            queue,
            outcome,
        } = self;
        match outcome.await {
            Ok(Outcome::Lead) => Turn::Lead(Lead { queues, id, queue }),
            Ok(outcome) => Turn::Done(outcome),
            Err(_) => Turn::Rejoin,
        }
    }
}

impl Lead<'_> {
    /// Every commit waiting now: they are this group's, after the leader.
    pub(crate) fn group(&self) -> Vec<Member> {
        lock(&self.queue).waiting.drain(..).collect()
    }

    /// The record to lay a commit loaded at `version` over instead, when this process has
    /// replaced that version since.
    pub(crate) fn newer_than(&self, version: Version) -> Option<Loaded> {
        let tail = lock(&self.queue);
        let latest = tail.latest.as_ref()?;
        (latest.version != version && tail.replaced.contains(&version)).then(|| latest.clone())
    }

    /// `version` is no longer the stored one.
    pub(crate) fn replaced(&self, version: Version) {
        let mut tail = lock(&self.queue);
        if tail.replaced.len() == REPLACED_KEPT {
            tail.replaced.pop_front();
        }
        tail.replaced.push_back(version);
    }

    /// The store now holds `loaded` (written or read by this group); `None`: nothing.
    pub(crate) fn holds(&self, loaded: Option<Loaded>) {
        lock(&self.queue).latest = loaded;
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let idle = {
            let mut tail = lock(&self.queue);
            loop {
                match tail.waiting.pop_front() {
                    // A commit whose request went away does not take the lead: the next one does.
                    Some(next) => {
                        if next.done.send(Outcome::Lead).is_ok() {
                            break false;
                        }
                    }
                    None => {
                        tail.leading = false;
                        break true;
                    }
                }
            }
        };
        if !idle {
            return;
        }
        let mut shard = self.queues.shard(&self.id);
        shard.idle.push_back(self.id.clone());
        while shard.idle.len() > IDLE_KEPT {
            let Some(oldest) = shard.idle.pop_front() else {
                break;
            };
            // Handles on a queue are taken under its shard's lock: one (the map's) means no
            // commit holds it; one in use joins the idle ones anew when it is done.
            let unused = shard.queues.get(&oldest).is_some_and(|q| {
                oldest != self.id && Arc::strong_count(q) == 1 && !lock(q).leading
            });
            if unused {
                shard.queues.remove(&oldest);
            }
        }
    }
}

impl std::fmt::Debug for Lead<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lead").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Follower<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::expiry::ExpiryPolicy;
    use crate::record::Record;
    use time::macros::datetime;

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

    fn session() -> Session {
        Session::detached(
            ExpiryPolicy::default(),
            Arc::new(ManualClock::starting_now()),
        )
    }

    fn id() -> SessionId {
        SessionId::parse("abcdefgh").unwrap()
    }

    #[tokio::test]
    async fn the_first_leads_the_others_form_the_next_group() {
        let queues = CommitQueues::default();
        let Joined::Lead(lead) = queues.join(&id(), &session(), Version::new(1)) else {
            panic!("the first commit leads");
        };
        let Joined::Follow(second) = queues.join(&id(), &session(), Version::new(1)) else {
            panic!("the second waits");
        };
        let Joined::Follow(third) = queues.join(&id(), &session(), Version::new(1)) else {
            panic!("the third waits");
        };
        assert!(
            lead.group().len() == 2,
            "both waiting commits are the leader's group"
        );
        drop(lead);
        // Their outcomes are the leader's to send; here it left without: both join again.
        assert!(matches!(second.wait().await, Turn::Rejoin));
        assert!(matches!(third.wait().await, Turn::Rejoin));
    }

    #[tokio::test]
    async fn the_lead_passes_to_the_first_waiting_commit() {
        let queues = CommitQueues::default();
        let Joined::Lead(lead) = queues.join(&id(), &session(), Version::new(1)) else {
            panic!("the first commit leads");
        };
        let Joined::Follow(next) = queues.join(&id(), &session(), Version::new(1)) else {
            panic!("the second waits");
        };
        drop(lead);
        let Turn::Lead(lead) = next.wait().await else {
            panic!("it leads now");
        };
        let Joined::Follow(_) = queues.join(&id(), &session(), Version::new(1)) else {
            panic!("a leader is still there");
        };
        drop(lead);
    }

    #[tokio::test]
    async fn a_later_commit_learns_what_the_last_write_stored() {
        let queues = CommitQueues::default();
        let Joined::Lead(lead) = queues.join(&id(), &session(), Version::new(1)) else {
            panic!("leads");
        };
        lead.replaced(Version::new(1));
        lead.holds(Some(loaded(2)));
        drop(lead);
        let Joined::Lead(later) = queues.join(&id(), &session(), Version::new(1)) else {
            panic!("leads");
        };
        let known = |v| later.newer_than(Version::new(v)).map(|l| l.version.get());
        assert_eq!(
            known(1),
            Some(2),
            "loaded before the write, which has finished"
        );
        assert_eq!(known(2), None, "already the latest");
        assert_eq!(known(7), None, "not known to be older: the store decides");
        drop(later);
        queues.forget(&id());
        let Joined::Lead(after) = queues.join(&id(), &session(), Version::new(1)) else {
            panic!("leads");
        };
        assert!(after.newer_than(Version::new(1)).is_none(), "forgotten");
    }

    #[tokio::test]
    async fn idle_queues_are_bounded() {
        let queues = CommitQueues::default();
        let ids: Vec<_> = (0..SHARDS * IDLE_KEPT * 3)
            .map(|i| SessionId::parse(&format!("session{i:06}")).unwrap())
            .collect();
        for id in &ids {
            let Joined::Lead(lead) = queues.join(id, &session(), Version::new(1)) else {
                panic!("leads");
            };
            lead.replaced(Version::new(1));
            lead.holds(Some(loaded(2)));
        }
        assert!(queues.len() <= SHARDS * IDLE_KEPT, "{} kept", queues.len());
        let Joined::Lead(last) = queues.join(ids.last().unwrap(), &session(), Version::new(1))
        else {
            panic!("leads");
        };
        assert!(
            last.newer_than(Version::new(1)).is_some(),
            "the newest is kept"
        );
    }
}
