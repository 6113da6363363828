//! The session's user: who it belongs to ([`Session::set_user`]) and when it began.

use serde_json::Value;
use time::OffsetDateTime;

use super::{Session, Write};
use crate::interop::Profile;

impl Session {
    /// Keeps the user in the data under `profile`'s framework key ([`Profile::user_key`]).
    pub(crate) fn for_profile(self, profile: Profile) -> Self {
        let mut state = self.lock();
        state.user_key = profile.user_key();
        state.loaded_user = state.user();
        drop(state);
        self
    }

    /// The user this session belongs to, as a handler named it with
    /// [`set_user`](Self::set_user) (or, with the Python profiles, as the Python app's login
    /// wrote it: Django's `_auth_user_id`, Flask-Login's `_user_id`).
    pub fn user(&self) -> Option<String> {
        let mut state = self.lock();
        match state.user_key {
            Some(key) => state.read(key),
            None => state.accessed = true,
        }
        state.user()
    }

    /// Names the user this session belongs to: call it at login, with
    /// [`cycle_id`](Self::cycle_id). A server-side store that keeps an index of sessions by
    /// user ([`crate::users::Users`]) then lists the session among the user's, and "log out
    /// everywhere" reaches it. [`flush`](Self::flush) (logout) forgets the user.
    ///
    /// With the Python profiles the user is written where the framework keeps it (Django's
    /// `_auth_user_id`, Flask-Login's `_user_id`), so the Python app sees the same key; a
    /// Django app also wants `_auth_user_backend` and `_auth_user_hash` before it treats the
    /// session as logged in.
    ///
    /// ```
    /// # fn login(session: tessera::Session) -> Result<(), tessera::session::ValueError> {
    /// session.cycle_id();
    /// session.set_user("42");
    /// assert_eq!(session.user().as_deref(), Some("42"));
    /// # Ok(()) }
    /// ```
    pub fn set_user(&self, user: impl Into<String>) {
        let user = user.into();
        let mut state = self.lock();
        if let Some(key) = state.user_key {
            state.write(key, Write::Overwrite);
            state.put(key, Value::String(user));
        } else {
            state.modified = true;
            state.accessed = true;
            state.meta.user = Some(user);
            state.meta_changed = true;
        }
    }

    /// When the session began (its first save, or its last [`cycle_id`](Self::cycle_id)), if
    /// it was stored with that: tessera notes it for sessions with a user, and for every
    /// session when an absolute timeout is configured.
    pub fn created_at(&self) -> Option<OffsetDateTime> {
        self.lock().meta.created
    }
}

impl super::State {
    /// Nothing worth storing: no data and no user (a session with a user alone is a login).
    pub(crate) fn holds_nothing(&self) -> bool {
        self.data.is_empty() && self.meta.user.is_none()
    }

    /// The session's user, read without counting as an access.
    pub(crate) fn user(&self) -> Option<String> {
        match self.user_key {
            Some(key) => self
                .data
                .get(key)
                .and_then(crate::interop::meta::user_value),
            None => self.meta.user.clone(),
        }
    }
}
