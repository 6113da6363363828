//! [`Session`]: the handle a handler reads and writes, with its change tracking.
//!
//! The handle never talks to a store. The middleware loads it before the handler asks for it
//! and saves what changed after the handler returns, so reads and writes are plain method calls
//! with no `.await`. Every write is recorded per key (set or removed), which is what lets the
//! middleware re-apply a request's changes on top of a record another request saved meanwhile.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::clock::SharedClock;
use crate::expiry::{Expiry, ExpiryPolicy};
use crate::id::SessionId;
use crate::record::{Data, Record, Version};

/// A value could not be converted to or from JSON.
#[derive(Debug, thiserror::Error)]
#[error("session value {key:?} could not be {action}: {source}")]
pub struct ValueError {
    key: String,
    action: &'static str,
    #[source]
    source: serde_json::Error,
}

impl ValueError {
    fn read(key: &str, source: serde_json::Error) -> Self {
        Self {
            key: key.to_owned(),
            action: "read as the requested type",
            source,
        }
    }

    fn write(key: &str, source: serde_json::Error) -> Self {
        Self {
            key: key.to_owned(),
            action: "stored as JSON",
            source,
        }
    }

    /// The key whose value failed.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// A session: a map of string keys to JSON values, its id and its expiry.
///
/// Cheap to clone; clones share one session. Obtain it with the axum extractor (feature `axum`)
/// or [`crate::LazySession::load`]. Its API follows Django's `SessionBase` and Flask's
/// `SessionMixin`:
///
/// ```
/// # fn demo(session: tessera::Session) -> Result<(), tessera::session::ValueError> {
/// session.insert("user", "ada")?;
/// let visits: u32 = session.get("visits")?.unwrap_or(0);
/// session.insert("visits", visits + 1)?;
/// let cart: Vec<u32> = session.setdefault("cart", Vec::new())?;
/// session.remove::<String>("flash")?;
/// session.set_expiry(time::Duration::hours(2));
/// session.cycle_id(); // on login
/// # let _ = cart; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Session {
    state: Arc<Mutex<State>>,
}

/// Where a session came from.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// `None` for cookie sessions, which have no id.
    pub(crate) id: Option<SessionId>,
    /// `None` for cookie sessions, which have no stored version.
    pub(crate) version: Option<Version>,
}

/// The keys a request set or removed. Their values are the session's own: a key present in
/// its data was set, an absent one removed.
pub(crate) type Changes = BTreeSet<String>;

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) origin: Option<Origin>,
    /// The id the session will be saved under; `None` until a new session first saves.
    pub(crate) id: Option<SessionId>,
    pub(crate) data: Arc<Data>,
    pub(crate) expiry: Expiry,
    pub(crate) changes: Changes,
    pub(crate) cleared: bool,
    pub(crate) expiry_changed: bool,
    /// The stored record must go: `flush` or `cycle_id` was called.
    pub(crate) drop_origin: bool,
    pub(crate) modified: bool,
    pub(crate) policy: ExpiryPolicy,
    pub(crate) clock: SharedClock,
}

impl State {
    /// This request's changes laid over `base` (a record another request saved meanwhile).
    pub(crate) fn rebase(&mut self, base: &Record) {
        let mut data = if self.cleared {
            Data::new()
        } else {
            Data::clone(&base.data)
        };
        for key in &self.changes {
            match self.data.get(key) {
                Some(value) => data.insert(key.clone(), value.clone()),
                None => data.remove(key),
            };
        }
        self.data = Arc::new(data);
        if !self.expiry_changed {
            self.expiry = base.expiry;
        }
    }

    /// Records that this request set or removed `key`.
    fn write(&mut self, key: &str) {
        self.modified = true;
        if !self.changes.contains(key) {
            self.changes.insert(key.to_owned());
        }
    }
}

impl Session {
    pub(crate) fn new(
        origin: Option<Origin>,
        record: Option<Record>,
        policy: ExpiryPolicy,
        clock: SharedClock,
    ) -> Self {
        let (data, expiry) = record.map_or_else(Default::default, |r| (r.data, r.expiry));
        let state = State {
            id: origin.as_ref().and_then(|o| o.id.clone()),
            origin,
            data,
            expiry,
            changes: Changes::new(),
            cleared: false,
            expiry_changed: false,
            drop_origin: false,
            modified: false,
            policy,
            clock,
        };
        Self {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// A new, empty session that no request has loaded: for tests of handlers.
    pub fn detached(policy: ExpiryPolicy, clock: SharedClock) -> Self {
        Self::new(None, None, policy, clock)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in another holder cannot leave the map half-written; keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value under `key`, deserialised as `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ValueError> {
        let state = self.lock();
        state
            .data
            .get(key)
            .map(|v| T::deserialize(v).map_err(|e| ValueError::read(key, e)))
            .transpose()
    }

    /// The raw JSON value under `key`.
    pub fn get_value(&self, key: &str) -> Option<Value> {
        self.lock().data.get(key).cloned()
    }

    /// Whether `key` is set.
    pub fn contains_key(&self, key: &str) -> bool {
        self.lock().data.contains_key(key)
    }

    /// The keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.lock().data.keys().cloned().collect()
    }

    /// The values, in key order.
    pub fn values(&self) -> Vec<Value> {
        self.lock().data.values().cloned().collect()
    }

    /// The `(key, value)` pairs, sorted by key.
    pub fn items(&self) -> Vec<(String, Value)> {
        let state = self.lock();
        state
            .data
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A snapshot of all the data; cheap (shared until the next write).
    pub fn data(&self) -> Arc<Data> {
        self.lock().data.clone()
    }

    /// How many keys are set.
    pub fn len(&self) -> usize {
        self.lock().data.len()
    }

    /// Whether no key is set. An empty session is never stored and its cookie is removed.
    pub fn is_empty(&self) -> bool {
        self.lock().data.is_empty()
    }

    /// Sets `key` to `value`, returning the previous raw value.
    pub fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<Option<Value>, ValueError> {
        let value = serde_json::to_value(value).map_err(|e| ValueError::write(key, e))?;
        Ok(self.insert_value(key, value))
    }

    /// Sets `key` to a raw JSON value, returning the previous one.
    pub fn insert_value(&self, key: &str, value: Value) -> Option<Value> {
        let mut state = self.lock();
        state.write(key);
        Arc::make_mut(&mut state.data).insert(key.to_owned(), value)
    }

    /// The value under `key`; if absent, stores `default` first (Python's `setdefault`).
    pub fn setdefault<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        default: T,
    ) -> Result<T, ValueError> {
        let mut state = self.lock();
        if let Some(existing) = state.data.get(key) {
            return T::deserialize(existing).map_err(|e| ValueError::read(key, e));
        }
        let value = serde_json::to_value(&default).map_err(|e| ValueError::write(key, e))?;
        state.write(key);
        Arc::make_mut(&mut state.data).insert(key.to_owned(), value);
        Ok(default)
    }

    /// Removes `key` and returns its value as `T` (Python's `pop`). The key is removed even
    /// when its value does not deserialise as `T`.
    pub fn remove<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ValueError> {
        self.remove_value(key)
            .map(|v| T::deserialize(v).map_err(|e| ValueError::read(key, e)))
            .transpose()
    }

    /// Removes `key` and returns its raw value.
    pub fn remove_value(&self, key: &str) -> Option<Value> {
        let mut state = self.lock();
        if !state.data.contains_key(key) {
            return None;
        }
        state.write(key);
        Arc::make_mut(&mut state.data).remove(key)
    }

    /// Removes every key; the id stays. The session is deleted from its store and its cookie
    /// removed unless the handler sets a key again.
    pub fn clear(&self) {
        let mut state = self.lock();
        if state.data.is_empty() && state.changes.is_empty() {
            return;
        }
        state.data = Arc::new(Data::new());
        state.changes.clear();
        state.cleared = true;
        state.modified = true;
    }

    /// Removes every key, deletes the stored session and drops its id (logout). A key set
    /// afterwards starts a new session under a new id.
    pub fn flush(&self) {
        let mut state = self.lock();
        state.data = Arc::new(Data::new());
        state.changes.clear();
        state.cleared = true;
        state.modified = true;
        state.drop_origin = true;
        state.expiry = Expiry::Default;
        state.expiry_changed = true;
        state.id = None;
    }

    /// Keeps the data under a new id and deletes the old record (call it at login, to defeat
    /// session fixation).
    pub fn cycle_id(&self) {
        let mut state = self.lock();
        state.drop_origin = true;
        state.modified = true;
        state.id = None;
    }

    /// The id, if the session has one: a new session gets its id when first saved, and
    /// [`flush`](Self::flush) and [`cycle_id`](Self::cycle_id) drop it until then.
    pub fn id(&self) -> Option<SessionId> {
        self.lock().id.clone()
    }

    /// Whether the request brought no valid session (or the session was flushed).
    pub fn is_new(&self) -> bool {
        let state = self.lock();
        // `flush` both clears and drops the origin; `cycle_id` alone keeps the session.
        state.origin.is_none() || state.drop_origin && state.cleared
    }

    /// Whether this request changed the session (Flask's `session.modified`).
    pub fn is_modified(&self) -> bool {
        self.lock().modified
    }

    /// Whether the session was read or written. Always true for a handle obtained from a
    /// request: loading it is what makes the response depend on the `Cookie` header.
    pub fn is_accessed(&self) -> bool {
        true
    }

    /// Forces a save at the end of the request even if no key changed.
    pub fn mark_modified(&self) {
        self.lock().modified = true;
    }

    /// Sets how long this session lives (Django's `set_expiry`).
    ///
    /// Accepts an [`Expiry`], a [`time::Duration`] or [`std::time::Duration`] (an age from
    /// the last save), or an [`OffsetDateTime`] (a fixed end); [`Expiry::from_seconds`] takes
    /// Django's integers, where `0` means "until the browser closes".
    pub fn set_expiry(&self, expiry: impl Into<Expiry>) {
        let mut state = self.lock();
        state.expiry = expiry.into();
        state.expiry_changed = true;
        state.modified = true;
    }

    /// The session's own expiry choice.
    pub fn expiry(&self) -> Expiry {
        self.lock().expiry
    }

    /// Time left if the session were saved now (Django's `get_expiry_age`).
    pub fn expiry_age(&self) -> Duration {
        let state = self.lock();
        state.policy.age(state.expiry, state.clock.now())
    }

    /// When the session would end if saved now (Django's `get_expiry_date`).
    pub fn expiry_date(&self) -> OffsetDateTime {
        let state = self.lock();
        state.policy.deadline(state.expiry, state.clock.now())
    }

    /// Whether the cookie ends with the browser (Django's `get_expire_at_browser_close`).
    pub fn expires_at_browser_close(&self) -> bool {
        let state = self.lock();
        state.policy.at_browser_close(state.expiry)
    }

    /// Flask's `session.permanent`: the opposite of [`expires_at_browser_close`](Self::expires_at_browser_close).
    pub fn is_permanent(&self) -> bool {
        !self.expires_at_browser_close()
    }

    /// Flask's `session.permanent = value`: permanent sessions live the global lifetime.
    pub fn set_permanent(&self, permanent: bool) {
        let policy = self.lock().policy;
        let expiry = match (permanent, policy.permanent_by_default()) {
            (true, true) | (false, false) => Expiry::Default,
            (true, false) => Expiry::Age(policy.lifetime()),
            (false, true) => Expiry::BrowserClose,
        };
        self.set_expiry(expiry);
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Session")
            .field("id", &state.id)
            .field("keys", &state.data.keys().collect::<Vec<_>>())
            .field("expiry", &state.expiry)
            .field("modified", &state.modified)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use serde_json::json;
    use time::macros::datetime;

    fn session() -> Session {
        Session::detached(
            ExpiryPolicy::new(Duration::days(14), true),
            Arc::new(ManualClock::new(datetime!(2030-01-01 0:00 UTC))),
        )
    }

    #[test]
    fn typed_reads_and_writes() {
        let s = session();
        assert_eq!(s.get::<u32>("n").unwrap(), None);
        s.insert("n", 5u32).unwrap();
        assert_eq!(s.get::<u32>("n").unwrap(), Some(5));
        assert!(s.get::<String>("n").is_err());
        assert_eq!(s.setdefault("list", vec![1]).unwrap(), vec![1]);
        assert_eq!(s.setdefault("list", vec![2]).unwrap(), vec![1]);
        assert_eq!(s.keys(), ["list", "n"]);
        assert_eq!(s.values(), [json!([1]), json!(5)]);
        assert_eq!(s.len(), 2);
        assert_eq!(s.remove::<u32>("n").unwrap(), Some(5));
        assert_eq!(s.remove::<u32>("n").unwrap(), None);
        assert_eq!(s.items(), [("list".to_owned(), json!([1]))]);
        assert!(s.is_modified());
    }

    #[test]
    fn reads_do_not_modify() {
        let s = session();
        let _ = s.get::<u32>("x");
        let _ = (
            s.contains_key("y"),
            s.keys(),
            s.items(),
            s.is_empty(),
            s.expiry_age(),
        );
        assert!(!s.is_modified());
        s.remove_value("absent");
        assert!(!s.is_modified(), "removing an absent key changes nothing");
    }

    #[test]
    fn changes_are_tracked_per_key_and_rebased() {
        let s = session();
        s.insert("mine", 1).unwrap();
        s.remove_value("gone");
        let mut theirs = Data::new();
        theirs.insert("theirs".into(), json!(2));
        theirs.insert("mine".into(), json!(0));
        let base = Record::new(theirs, Expiry::BrowserClose, datetime!(2030-01-02 0:00 UTC));
        let mut state = s.lock();
        state.rebase(&base);
        assert_eq!(state.data.get("mine"), Some(&json!(1)));
        assert_eq!(state.data.get("theirs"), Some(&json!(2)));
        assert_eq!(state.expiry, Expiry::BrowserClose);
    }

    #[test]
    fn clear_drops_their_keys_on_rebase_too() {
        let s = session();
        s.insert("a", 1).unwrap();
        s.clear();
        s.insert("b", 2).unwrap();
        let mut theirs = Data::new();
        theirs.insert("c".into(), json!(3));
        let base = Record::new(theirs, Expiry::Default, datetime!(2030-01-02 0:00 UTC));
        let mut state = s.lock();
        state.rebase(&base);
        assert_eq!(state.data.keys().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn expiry_api_follows_django() {
        let s = session();
        assert_eq!(s.expiry_age(), Duration::days(14));
        assert!(s.is_permanent());
        s.set_expiry(Expiry::from_seconds(0));
        assert!(s.expires_at_browser_close());
        s.set_expiry(Duration::seconds(60));
        assert_eq!(s.expiry_date(), datetime!(2030-01-01 0:01 UTC));
        s.set_permanent(false);
        assert!(!s.is_permanent());
        s.set_permanent(true);
        assert_eq!(s.expiry(), Expiry::Default);
    }

    #[test]
    fn flush_and_cycle_drop_the_id() {
        let s = Session::new(
            Some(Origin {
                id: Some(SessionId::parse("abc").unwrap()),
                version: None,
            }),
            Some(Record::new(
                Data::from([("k".to_owned(), json!(1))]),
                Expiry::Default,
                datetime!(2030-01-02 0:00 UTC),
            )),
            ExpiryPolicy::default(),
            Arc::new(ManualClock::starting_now()),
        );
        assert!(!s.is_new());
        s.cycle_id();
        assert_eq!(s.id(), None);
        assert_eq!(s.get::<u32>("k").unwrap(), Some(1));
        s.flush();
        assert!(s.is_empty());
        assert!(s.is_new());
    }
}
