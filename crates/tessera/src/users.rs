//! Sessions per user: [`Users`] lists a user's sessions and revokes them ("log out
//! everywhere", "your active sessions"), through the store's [`UserIndex`].
//!
//! A session belongs to the user a handler named with
//! [`Session::set_user`](crate::Session::set_user). Each save or touch of such a session first
//! enters it in the store's index, so the index never misses a stored session; the index may
//! hold stale entries (sessions expired, deleted, cycled or now another user's), so every
//! answer here is checked against the sessions' own records, and stale entries found on the
//! way are pruned.
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # mod example {
//! use axum::{extract::Path, http::StatusCode, Json};
//! use tessera::id::SessionHandle;
//! use tessera::users::{UserSession, Users};
//! use tessera::Session;
//!
//! async fn login(session: Session) {
//!     // … check the password …
//!     session.cycle_id(); // a new id at login
//!     session.set_user("42");
//! }
//!
//! async fn my_sessions(session: Session, users: Users) -> Result<Json<Vec<UserSession>>, StatusCode> {
//!     // Newest first, the current one marked; each with created, last_seen, expires_at,
//!     // user_agent and client (when SESSION_RECORD_DEVICES is on), and a handle.
//!     users.sessions_of(&session).await.map(Json).map_err(|_| StatusCode::SERVICE_UNAVAILABLE)
//! }
//!
//! async fn revoke(session: Session, users: Users, Path(handle): Path<String>) -> StatusCode {
//!     let (Some(user), Ok(handle)) = (session.user(), handle.parse::<SessionHandle>()) else {
//!         return StatusCode::NOT_FOUND;
//!     };
//!     match users.revoke(&user, &handle).await {
//!         Ok(true) => StatusCode::NO_CONTENT,
//!         Ok(false) => StatusCode::NOT_FOUND, // not one of this user's sessions
//!         Err(_) => StatusCode::SERVICE_UNAVAILABLE,
//!     }
//! }
//! # }
//! ```

use std::time::Duration as StdDuration;

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::clock::SharedClock;
use crate::events::{Hook, SessionEvent};
use crate::id::{SessionHandle, SessionId};
use crate::record::Record;
use crate::session::Session;
use crate::store::{Error, SharedStore, UserIndex};

/// A user's session as a "your sessions" page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserSession {
    /// Names the session for [`Users::revoke`]; not its id, and no cookie can be made of it.
    pub handle: SessionHandle,
    /// Whether this is the session of the request that asked ([`Users::sessions_of`]).
    pub current: bool,
    /// When it began (its first save, or its last `cycle_id`, at login).
    #[serde(with = "time::serde::rfc3339::option")]
    pub created: Option<OffsetDateTime>,
    /// When it was last saved or touched, to the minute.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen: Option<OffsetDateTime>,
    /// When it ends unless used again.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The `User-Agent` it was last saved from, when devices are recorded.
    pub user_agent: Option<String>,
    /// The client address it was last saved from, when devices are recorded.
    pub client: Option<String>,
}

/// Lists and revokes users' sessions. Cheap to clone. Obtain it from
/// [`SessionLayer::users`](crate::SessionLayer::users), or in a handler with the axum
/// extractor (feature `axum`).
///
/// Every call fails with [`Error::Unsupported`] when the storage keeps no index of sessions by
/// user: cookie sessions (the browser holds them; nothing on the server can end one early),
/// memcached (its keys cannot be kept together or enumerated reliably), and stores with
/// `SESSION_HASH_IDS`.
#[derive(Debug, Clone)]
pub struct Users {
    store: Option<SharedStore>,
    clock: SharedClock,
    timeout: StdDuration,
    events: Option<Hook>,
}

impl Users {
    pub(crate) fn new(
        store: Option<SharedStore>,
        clock: SharedClock,
        timeout: StdDuration,
        events: Option<Hook>,
    ) -> Self {
        Self {
            store,
            clock,
            timeout,
            events,
        }
    }

    fn parts(&self) -> Result<(&SharedStore, &dyn UserIndex), Error> {
        let store = self.store.as_ref().ok_or(Error::Unsupported {
            op: "keep an index of sessions by user",
            store: "cookie sessions",
            reason: "the session lives in the browser's cookie and nothing on the server can end it before it expires; use a server-side store (SESSION_URL)",
        })?;
        Ok((store, store.user_index()?))
    }

    async fn bounded<T>(
        &self,
        op: &'static str,
        fut: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        tokio::time::timeout(self.timeout, fut)
            .await
            .unwrap_or(Err(Error::Timeout {
                op,
                after: self.timeout,
            }))
    }

    /// The user's live sessions, each checked against its record; entries that no longer
    /// name one of the user's live sessions are removed from the index on the way.
    async fn live(&self, user: &str) -> Result<Vec<(SessionId, Record)>, Error> {
        let (store, index) = self.parts()?;
        let ids = self
            .bounded("list the user's sessions", index.entries(user))
            .await?;
        let loaded = join_all(ids.iter().map(|id| self.bounded("load", store.load(id)))).await;
        let now = self.clock.now();
        let profile = store.profile();
        let (mut live, mut stale) = (Vec::new(), Vec::new());
        for (id, loaded) in ids.into_iter().zip(loaded) {
            match loaded {
                Ok(Some(l))
                    if l.record.user_of(profile).as_deref() == Some(user)
                        && !l.record.is_expired(now) =>
                {
                    live.push((id, l.record));
                }
                Ok(_) => stale.push(id),
                Err(Error::Corrupt { .. }) => stale.push(id),
                Err(e) => return Err(e),
            }
        }
        if !stale.is_empty() {
            self.bounded("prune the user index", index.remove(user, &stale))
                .await?;
        }
        Ok(live)
    }

    /// The live sessions of `user`, newest first.
    pub async fn sessions(&self, user: &str) -> Result<Vec<UserSession>, Error> {
        Ok(Self::described(self.live(user).await?, None))
    }

    /// The live sessions of `session`'s user, newest first, with `session` itself marked
    /// [`current`](UserSession::current); none if the session has no user.
    pub async fn sessions_of(&self, session: &Session) -> Result<Vec<UserSession>, Error> {
        let Some(user) = session.user() else {
            self.parts()?;
            return Ok(Vec::new());
        };
        let current = session.id();
        Ok(Self::described(self.live(&user).await?, current.as_ref()))
    }

    fn described(live: Vec<(SessionId, Record)>, current: Option<&SessionId>) -> Vec<UserSession> {
        let mut out: Vec<UserSession> = live
            .into_iter()
            .map(|(id, r)| UserSession {
                handle: SessionHandle::of(&id),
                current: current == Some(&id),
                created: r.meta.created,
                last_seen: r.meta.seen,
                expires_at: r.expires_at,
                user_agent: r.meta.agent,
                client: r.meta.client,
            })
            .collect();
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.handle.cmp(&b.handle)));
        out
    }

    /// Ends `user`'s session named by `handle`; false if `user` has no such live session (a
    /// handle of another user's session ends nothing). Its next request is a fresh session,
    /// and a request on it that is saving right now is refused rather than bringing it back.
    pub async fn revoke(&self, user: &str, handle: &SessionHandle) -> Result<bool, Error> {
        let live = self.live(user).await?;
        let Some((id, _)) = live.iter().find(|(id, _)| SessionHandle::of(id) == *handle) else {
            return Ok(false);
        };
        self.end(user, std::slice::from_ref(id)).await?;
        Ok(true)
    }

    /// Ends every live session of `user` ("log out everywhere", after a password change or
    /// a stolen device) and returns how many.
    pub async fn revoke_all(&self, user: &str) -> Result<u64, Error> {
        let ids: Vec<SessionId> = self
            .live(user)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        self.end(user, &ids).await?;
        Ok(ids.len() as u64)
    }

    /// Ends every live session of `session`'s user but `session` itself ("log out everywhere
    /// else") and returns how many; 0 if the session has no user.
    pub async fn revoke_others(&self, session: &Session) -> Result<u64, Error> {
        let Some(user) = session.user() else {
            self.parts()?;
            return Ok(0);
        };
        let current = session.id();
        let ids: Vec<SessionId> = self
            .live(&user)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| Some(id) != current.as_ref())
            .collect();
        self.end(&user, &ids).await?;
        Ok(ids.len() as u64)
    }

    /// Deletes the sessions, then their entries (a failure in between leaves only stale
    /// entries, never a live session without one).
    async fn end(&self, user: &str, ids: &[SessionId]) -> Result<(), Error> {
        let (store, index) = self.parts()?;
        for result in join_all(
            ids.iter()
                .map(|id| self.bounded("delete", store.delete(id))),
        )
        .await
        {
            result?;
        }
        self.bounded("prune the user index", index.remove(user, ids))
            .await?;
        for id in ids {
            Hook::emit(self.events.as_ref(), || SessionEvent::Revoked {
                session: SessionHandle::of(id),
                user: user.to_owned(),
            });
        }
        Ok(())
    }
}
