//! [`MemoryStore`](super::MemoryStore)'s index of sessions by user: a map in the process's
//! memory, beside the sessions.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::clock::SharedClock;
use crate::id::SessionId;
use crate::store::{Error, UserIndex};

/// Entries by user, each id with its `until`. A user's expired entries go whenever the user's
/// entries are read or written, and all of them on `clear_expired`, so the map holds at most
/// the entries of sessions saved within their lifetime.
#[derive(Debug)]
pub(super) struct MemoryUserIndex {
    users: Mutex<HashMap<String, HashMap<SessionId, OffsetDateTime>>>,
    clock: SharedClock,
}

impl MemoryUserIndex {
    pub(super) fn new(clock: SharedClock) -> Self {
        Self {
            users: Mutex::new(HashMap::new()),
            clock,
        }
    }

    pub(super) fn with_clock(&self, clock: SharedClock) -> Self {
        let users = self
            .users
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Self {
            users: Mutex::new(users),
            clock,
        }
    }
}

#[async_trait]
impl UserIndex for MemoryUserIndex {
    async fn enter(&self, user: &str, id: &SessionId, until: OffsetDateTime) -> Result<(), Error> {
        let now = self.clock.now();
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        let entries = users.entry(user.to_owned()).or_default();
        entries.retain(|_, until| *until > now);
        let kept = entries.entry(id.clone()).or_insert(until);
        *kept = (*kept).max(until);
        Ok(())
    }

    async fn entries(&self, user: &str) -> Result<Vec<SessionId>, Error> {
        let now = self.clock.now();
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entries) = users.get_mut(user) else {
            return Ok(Vec::new());
        };
        entries.retain(|_, until| *until > now);
        let ids = entries.keys().cloned().collect();
        if entries.is_empty() {
            users.remove(user);
        }
        Ok(ids)
    }

    async fn remove(&self, user: &str, ids: &[SessionId]) -> Result<(), Error> {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entries) = users.get_mut(user) {
            for id in ids {
                entries.remove(id);
            }
            if entries.is_empty() {
                users.remove(user);
            }
        }
        Ok(())
    }

    async fn clear_expired(&self) -> Result<u64, Error> {
        let now = self.clock.now();
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        let mut removed = 0;
        users.retain(|_, entries| {
            let before = entries.len();
            entries.retain(|_, until| *until > now);
            removed += (before - entries.len()) as u64;
            !entries.is_empty()
        });
        Ok(removed)
    }
}
