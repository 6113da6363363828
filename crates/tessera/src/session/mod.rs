//! [`Session`]: the handle a handler reads and writes, with its change tracking.
//!
//! The handle never talks to a store. The middleware loads it before the handler asks for it
//! and saves what changed after the handler returns, so reads and writes are plain method calls
//! with no `.await`. Every write is recorded per key, with whether the request read the key
//! first, which is what lets the middleware lay a request's changes over a record
//! another request saved meanwhile without losing either request's update.

mod changes;
mod user;

use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

pub use changes::Stale;
pub(crate) use changes::{Changes, Reads};
use changes::{Updater, Write};

use crate::clock::SharedClock;
use crate::expiry::{Expiry, ExpiryPolicy};
use crate::id::SessionId;
use crate::record::{Data, Meta, Record, Version};

/// A value could not be converted to or from JSON.
///
/// With the `axum` feature it is a response (`500`, a body that says nothing of the session),
/// so handlers can use `?` on session calls.
#[derive(Debug, thiserror::Error)]
#[error("session value {key:?} could not be {action}")]
pub struct ValueError {
    key: String,
    action: &'static str,
    #[source]
    source: serde_json::Error,
}

impl ValueError {
    pub(crate) fn read(key: &str, source: serde_json::Error) -> Self {
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
/// let visits: u32 = session.update("visits", |n: Option<u32>| n.unwrap_or(0) + 1)?;
/// let theme: String = session.get_or("theme", "light".to_owned())?;
/// let cart: Vec<u32> = session.setdefault("cart", Vec::new())?;
/// session.remove::<String>("flash")?;
/// session.set_expiry(time::Duration::hours(2));
/// session.cycle_id(); // on login
/// # let _ = (visits, theme, cart); Ok(()) }
/// ```
///
/// # Concurrent requests
///
/// Requests on one session may run at once, in one process or on several app servers. Each
/// request's writes are laid over what the others saved, key by key:
///
/// - [`insert`](Self::insert) of a key the request did not read first is kept;
/// - [`update`](Self::update) (and [`setdefault`](Self::setdefault)) re-runs its function on the
///   freshest value, so read-modify-write loses nothing: use it for counters, carts, sets;
/// - a write of a key the request read first (`get` then `insert`) is kept while the stored
///   value is still the one read; if another request changed it meanwhile, the save is refused
///   and the response becomes `409 Conflict`
///   ([`SessionError::Conflict`](crate::SessionError::Conflict)), unless the configuration opts
///   into last-writer-wins ([`StaleWrites`](crate::config::StaleWrites)) or the write is an
///   [`overwrite`](Self::overwrite).
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

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) origin: Option<Origin>,
    /// The id the session will be saved under; `None` until a new session first saves.
    pub(crate) id: Option<SessionId>,
    /// The data: as loaded until the first write, which changes it in place when nothing else
    /// holds it (the values read before a write are in `changes`).
    pub(crate) data: Arc<Data>,
    pub(crate) expiry: Expiry,
    pub(crate) changes: Changes,
    pub(crate) reads: Reads,
    pub(crate) cleared: bool,
    pub(crate) expiry_changed: bool,
    /// The stored record must go: `flush` or `cycle_id` was called.
    pub(crate) drop_origin: bool,
    pub(crate) modified: bool,
    /// A writing method was called that changed nothing (a removal of an absent key, a clear
    /// of an empty session): a read-only session refuses it all the same, as the key may be in
    /// the record it could not load.
    pub(crate) idle_write: bool,
    /// The store failed when the session was loaded: it is empty and read-only.
    pub(crate) store_unavailable: bool,
    pub(crate) accessed: bool,
    pub(crate) policy: ExpiryPolicy,
    pub(crate) clock: SharedClock,
    /// Who the session belongs to and when it began, as loaded and then changed.
    pub(crate) meta: Meta,
    /// [`Session::set_user`], `flush` or `cycle_id` changed `meta` (a concurrent request's
    /// metadata does not replace it then).
    pub(crate) meta_changed: bool,
    /// Where the profile's framework keeps the user in the data ([`crate::Profile::user_key`]);
    /// `None`: in `meta` (tessera's own profile).
    pub(crate) user_key: Option<&'static str>,
    /// The user of the record as loaded, for the events of its end.
    pub(crate) loaded_user: Option<String>,
}

impl State {
    /// Whether the request called any method that writes, whether or not it changed anything.
    pub(crate) fn wrote(&self) -> bool {
        self.modified || self.idle_write
    }

    /// Lays this request's changes over `base` (a record another request saved meanwhile).
    /// `refuse_stale`: a read-based write of a key `base` changed is refused (see [`Stale`]).
    /// On an error the session is left as it was.
    pub(crate) fn rebase(&mut self, base: &Record, refuse_stale: bool) -> Result<(), Stale> {
        let data = changes::merge(
            &self.changes,
            &self.data,
            &base.data,
            self.cleared,
            refuse_stale,
        )?;
        self.data = Arc::new(data);
        if !self.expiry_changed {
            self.expiry = base.expiry;
        }
        if !self.meta_changed {
            self.meta = base.meta.clone();
        }
        Ok(())
    }

    /// The request read the stored value of `key`, unless it wrote the key already (then it
    /// reads its own value) or cleared the session.
    fn read(&mut self, key: &str) {
        self.accessed = true;
        if !self.cleared && !self.changes.contains_key(key) {
            self.reads.note(key);
        }
    }

    /// The request read every key.
    fn read_all(&mut self) {
        self.accessed = true;
        self.reads.note_all();
    }

    /// Sets `key` to `value` in this request's data. An existing key's value is replaced in
    /// place, so the usual update of a key allocates no new key.
    pub(crate) fn put(&mut self, key: &str, value: Value) {
        let data = Arc::make_mut(&mut self.data);
        match data.get_mut(key) {
            Some(slot) => *slot = value,
            None => {
                data.insert(key.to_owned(), value);
            }
        }
    }

    /// Records a write of `key`. Called before the write changes `data`: the change log takes
    /// the value a read-based write depends on from it.
    fn write(&mut self, key: &str, write: Write) {
        self.modified = true;
        self.accessed = true;
        let was_read = !self.cleared && self.reads.contains(key);
        changes::note(&mut self.changes, key, write, was_read, self.data.get(key));
    }
}

/// No data, shared: a session that starts empty allocates its map only when it is written.
fn empty_data() -> Arc<Data> {
    static EMPTY: LazyLock<Arc<Data>> = LazyLock::new(Arc::default);
    Arc::clone(&EMPTY)
}

impl Session {
    pub(crate) fn new(
        origin: Option<Origin>,
        record: Option<Record>,
        policy: ExpiryPolicy,
        clock: SharedClock,
    ) -> Self {
        let (data, expiry, meta) = record.map_or_else(
            || (empty_data(), Expiry::default(), Meta::default()),
            |r| (r.data, r.expiry, r.meta),
        );
        let state = State {
            id: origin.as_ref().and_then(|o| o.id.clone()),
            origin,
            data,
            expiry,
            changes: Changes::new(),
            reads: Reads::default(),
            cleared: false,
            expiry_changed: false,
            drop_origin: false,
            modified: false,
            idle_write: false,
            store_unavailable: false,
            accessed: false,
            policy,
            clock,
            loaded_user: meta.user.clone(),
            meta,
            meta_changed: false,
            user_key: None,
        };
        Self {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// A new, empty session that no request has loaded: for tests of handlers.
    pub fn detached(policy: ExpiryPolicy, clock: SharedClock) -> Self {
        Self::new(None, None, policy, clock)
    }

    /// The empty, read-only session of a request whose store failed at load
    /// ([`StoreOutage::Anonymous`](crate::config::StoreOutage::Anonymous)).
    pub(crate) fn unavailable(policy: ExpiryPolicy, clock: SharedClock) -> Self {
        let session = Self::new(None, None, policy, clock);
        session.lock().store_unavailable = true;
        session
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in another holder cannot leave the map half-written; keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value under `key`, deserialised as `T`; `Ok(None)` if absent, an error if the
    /// stored value is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ValueError> {
        let mut state = self.lock();
        state.read(key);
        state
            .data
            .get(key)
            .map(|v| T::deserialize(v).map_err(|e| ValueError::read(key, e)))
            .transpose()
    }

    /// The value under `key` as `T`, or `T::default()` if absent.
    ///
    /// ```
    /// # fn demo(session: tessera::Session) -> Result<(), tessera::session::ValueError> {
    /// let visits: u64 = session.get_or_default("visits")?;
    /// # let _ = visits; Ok(()) }
    /// ```
    pub fn get_or_default<T: DeserializeOwned + Default>(
        &self,
        key: &str,
    ) -> Result<T, ValueError> {
        Ok(self.get(key)?.unwrap_or_default())
    }

    /// The value under `key` as `T`, or `default` if absent.
    pub fn get_or<T: DeserializeOwned>(&self, key: &str, default: T) -> Result<T, ValueError> {
        Ok(self.get(key)?.unwrap_or(default))
    }

    /// The raw JSON value under `key`.
    pub fn get_value(&self, key: &str) -> Option<Value> {
        let mut state = self.lock();
        state.read(key);
        state.data.get(key).cloned()
    }

    /// Whether `key` is set.
    pub fn contains_key(&self, key: &str) -> bool {
        let mut state = self.lock();
        state.read(key);
        state.data.contains_key(key)
    }

    /// The keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut state = self.lock();
        state.read_all();
        state.data.keys().cloned().collect()
    }

    /// The values, in key order.
    pub fn values(&self) -> Vec<Value> {
        let mut state = self.lock();
        state.read_all();
        state.data.values().cloned().collect()
    }

    /// The `(key, value)` pairs, sorted by key.
    pub fn items(&self) -> Vec<(String, Value)> {
        let mut state = self.lock();
        state.read_all();
        state
            .data
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A snapshot of all the data; cheap (shared until the next write).
    pub fn data(&self) -> Arc<Data> {
        let mut state = self.lock();
        state.read_all();
        state.data.clone()
    }

    /// How many keys are set.
    pub fn len(&self) -> usize {
        let mut state = self.lock();
        state.read_all();
        state.data.len()
    }

    /// Whether no key is set. An empty session is never stored and its cookie is removed.
    pub fn is_empty(&self) -> bool {
        let mut state = self.lock();
        state.read_all();
        state.data.is_empty()
    }

    /// Sets `key` to `value`.
    ///
    /// If this request read `key` before (with `get`, `contains_key`, `items`, …), the write
    /// is taken to depend on what was read: it is kept only if no concurrent request changed
    /// `key` meanwhile (see [concurrent requests](Self#concurrent-requests)). For
    /// read-modify-write use [`update`](Self::update).
    pub fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), ValueError> {
        let value = serde_json::to_value(value).map_err(|e| ValueError::write(key, e))?;
        self.insert_value(key, value);
        Ok(())
    }

    /// Sets `key` to a raw JSON value (as [`insert`](Self::insert)).
    pub fn insert_value(&self, key: &str, value: Value) {
        let mut state = self.lock();
        state.write(key, Write::Plain);
        state.put(key, value);
    }

    /// Sets `key` to `value` whatever a concurrent request stored under it meanwhile, even if
    /// this request read it first: last writer wins, for this key.
    pub fn overwrite<T: Serialize>(&self, key: &str, value: T) -> Result<(), ValueError> {
        let value = serde_json::to_value(value).map_err(|e| ValueError::write(key, e))?;
        let mut state = self.lock();
        state.write(key, Write::Overwrite);
        state.put(key, value);
        Ok(())
    }

    /// Read-modify-write: sets `key` to `f(current value)` and returns the new value.
    ///
    /// `f` is kept until the session is saved: if another request saved the session meanwhile,
    /// `f` runs again on the value that request stored, so no update is lost. Keep `f` free of
    /// side effects (it may run several times); the value returned here is the one computed
    /// from the session as this request loaded it.
    ///
    /// ```
    /// # fn demo(session: tessera::Session) -> Result<(), tessera::session::ValueError> {
    /// use std::collections::BTreeSet;
    ///
    /// // A counter.
    /// let count = session.update("count", |n: Option<u64>| n.unwrap_or(0) + 1)?;
    /// // Appending to a list.
    /// session.update("cart", |cart: Option<Vec<String>>| {
    ///     let mut cart = cart.unwrap_or_default();
    ///     cart.push("book".to_owned());
    ///     cart
    /// })?;
    /// // Adding to a set.
    /// session.update("seen", |seen: Option<BTreeSet<u32>>| {
    ///     let mut seen = seen.unwrap_or_default();
    ///     seen.insert(42);
    ///     seen
    /// })?;
    /// # let _ = count; Ok(()) }
    /// ```
    ///
    /// An error if the current value is not a `T` (here or when run again on a fresh value:
    /// then the save is refused with [`SessionError::Conflict`](crate::SessionError::Conflict)).
    pub fn update<T, F>(&self, key: &str, f: F) -> Result<T, ValueError>
    where
        T: Serialize + DeserializeOwned,
        F: Fn(Option<T>) -> T + Send + 'static,
    {
        let mut state = self.lock();
        let current = state
            .data
            .get(key)
            .map(|v| T::deserialize(v).map_err(|e| ValueError::read(key, e)))
            .transpose()?;
        let next = f(current);
        let value = serde_json::to_value(&next).map_err(|e| ValueError::write(key, e))?;
        let updater: Updater = Box::new(move |key, current| {
            let current = current
                .map(|v| T::deserialize(v).map_err(|e| ValueError::read(key, e)))
                .transpose()?;
            serde_json::to_value(f(current))
                .map(Some)
                .map_err(|e| ValueError::write(key, e))
        });
        state.write(key, Write::Update(updater));
        state.put(key, value);
        Ok(next)
    }

    /// Read-modify-write on the raw JSON value: `f` maps the current value (`None`: absent)
    /// to the new one (`None` removes the key), and is re-run on a fresh value like
    /// [`update`](Self::update)'s. Returns the new value.
    pub fn update_value<F>(&self, key: &str, f: F) -> Option<Value>
    where
        F: Fn(Option<&Value>) -> Option<Value> + Send + 'static,
    {
        let mut state = self.lock();
        let next = f(state.data.get(key));
        state.write(key, Write::Update(Box::new(move |_, v| Ok(f(v)))));
        match &next {
            Some(value) => state.put(key, value.clone()),
            None => {
                Arc::make_mut(&mut state.data).remove(key);
            }
        }
        next
    }

    /// The value under `key`; if absent, stores `default` first (Python's `setdefault`). A
    /// default stored here never replaces a value a concurrent request stored meanwhile.
    pub fn setdefault<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        default: T,
    ) -> Result<T, ValueError> {
        let mut state = self.lock();
        state.read(key);
        if let Some(existing) = state.data.get(key) {
            return T::deserialize(existing).map_err(|e| ValueError::read(key, e));
        }
        let value = serde_json::to_value(&default).map_err(|e| ValueError::write(key, e))?;
        let kept = value.clone();
        let updater: Updater =
            Box::new(move |_, current| Ok(Some(current.cloned().unwrap_or_else(|| kept.clone()))));
        state.write(key, Write::Update(updater));
        state.put(key, value);
        Ok(default)
    }

    /// Removes `key` and returns its value as `T` (Python's `pop`). The key is removed even
    /// when its value does not deserialise as `T`. It reads the key, so the removal is kept only
    /// if no concurrent request changed the value meanwhile.
    pub fn remove<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ValueError> {
        self.remove_value(key)
            .map(|v| T::deserialize(v).map_err(|e| ValueError::read(key, e)))
            .transpose()
    }

    /// Removes `key` and returns its raw value.
    pub fn remove_value(&self, key: &str) -> Option<Value> {
        let mut state = self.lock();
        state.read(key);
        if !state.data.contains_key(key) {
            state.idle_write = true;
            return None;
        }
        state.write(key, Write::Plain);
        Arc::make_mut(&mut state.data).remove(key)
    }

    /// Removes every key; the id stays. The session is deleted from its store and its cookie
    /// removed unless the handler sets a key again. Keys concurrent requests saved meanwhile
    /// are removed too.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.accessed = true;
        if state.data.is_empty() && state.changes.is_empty() {
            state.idle_write = true;
            return;
        }
        state.data = empty_data();
        state.changes.clear();
        state.cleared = true;
        state.modified = true;
    }

    /// Removes every key, deletes the stored session and drops its id (logout). A key set
    /// afterwards starts a new session under a new id.
    pub fn flush(&self) {
        let mut state = self.lock();
        state.data = empty_data();
        state.changes.clear();
        state.cleared = true;
        state.modified = true;
        state.accessed = true;
        state.drop_origin = true;
        state.expiry = Expiry::Default;
        state.expiry_changed = true;
        state.id = None;
        state.meta = Meta::default();
        state.meta_changed = true;
    }

    /// Keeps the data under a new id and deletes the old record (call it at login, to defeat
    /// session fixation). The session starts anew for the absolute timeout
    /// (`SESSION_ABSOLUTE_TIMEOUT`); its user, if any, stays.
    pub fn cycle_id(&self) {
        let mut state = self.lock();
        state.drop_origin = true;
        state.modified = true;
        state.accessed = true;
        state.id = None;
        state.meta.created = None;
        state.meta_changed = true;
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

    /// Whether the store could not be reached when this session was loaded, under
    /// [`StoreOutage::Anonymous`](crate::config::StoreOutage::Anonymous): the session is
    /// empty whatever the store holds for this user, and read-only. If the handler writes it
    /// (even a removal or a [`clear`](Self::clear) that changes nothing), the response is
    /// replaced by `503 Service Unavailable` after the handler returns, so check this first
    /// and answer "try again later" before doing anything that cannot be undone.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tessera::Session;
    ///
    /// fn checkout(session: &Session) -> Result<StatusCode, tessera::session::ValueError> {
    ///     if session.store_unavailable() {
    ///         return Ok(StatusCode::SERVICE_UNAVAILABLE);
    ///     }
    ///     let Some(user) = session.get::<String>("user")? else {
    ///         return Ok(StatusCode::UNAUTHORIZED);
    ///     };
    ///     // ... charge `user`, then record it:
    ///     session.insert("last_order", &user)?;
    ///     Ok(StatusCode::OK)
    /// }
    /// # let session = Session::detached(
    /// #     tessera::expiry::ExpiryPolicy::new(time::Duration::days(1), true),
    /// #     tessera::clock::system(),
    /// # );
    /// # assert_eq!(checkout(&session)?, StatusCode::UNAUTHORIZED);
    /// # Ok::<(), tessera::session::ValueError>(())
    /// ```
    pub fn store_unavailable(&self) -> bool {
        self.lock().store_unavailable
    }

    /// Whether this request changed the session (Flask's `session.modified`).
    pub fn is_modified(&self) -> bool {
        self.lock().modified
    }

    /// Whether this request read or wrote the session's data or expiry (Flask's
    /// `session.accessed`). Asking for the id, [`is_new`](Self::is_new) or this flag itself
    /// does not count.
    pub fn is_accessed(&self) -> bool {
        self.lock().accessed
    }

    /// Forces a save at the end of the request even if no key changed.
    pub fn mark_modified(&self) {
        let mut state = self.lock();
        state.modified = true;
        state.accessed = true;
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
        state.accessed = true;
    }

    /// The session's own expiry choice.
    pub fn expiry(&self) -> Expiry {
        let mut state = self.lock();
        state.accessed = true;
        state.expiry
    }

    /// Time left if the session were saved now (Django's `get_expiry_age`).
    pub fn expiry_age(&self) -> Duration {
        let mut state = self.lock();
        state.accessed = true;
        state.policy.age(state.expiry, state.clock.now())
    }

    /// When the session would end if saved now (Django's `get_expiry_date`).
    pub fn expiry_date(&self) -> OffsetDateTime {
        let mut state = self.lock();
        state.accessed = true;
        state.policy.deadline(state.expiry, state.clock.now())
    }

    /// Whether the cookie ends with the browser (Django's `get_expire_at_browser_close`).
    pub fn expires_at_browser_close(&self) -> bool {
        let mut state = self.lock();
        state.accessed = true;
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
            .field("store_unavailable", &state.store_unavailable)
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
        s.get::<u32>("x").unwrap();
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
    fn a_session_the_store_could_not_load_is_flagged_and_sees_every_write() {
        assert!(!session().store_unavailable());
        let unavailable = |write: fn(&Session)| {
            let s = Session::unavailable(
                ExpiryPolicy::new(Duration::days(14), true),
                crate::clock::system(),
            );
            assert!(s.store_unavailable() && s.is_empty());
            assert!(!s.lock().wrote());
            write(&s);
            let wrote = s.lock().wrote();
            wrote
        };
        assert!(!unavailable(|s| {
            let _ = (s.get_value("user"), s.keys(), s.expiry_age(), s.id());
        }));
        // Even the writes that change nothing here: the record not loaded may hold the key.
        assert!(unavailable(|s| {
            s.remove_value("user");
        }));
        assert!(unavailable(Session::clear));
        assert!(unavailable(Session::flush));
        assert!(unavailable(Session::cycle_id));
        assert!(unavailable(Session::mark_modified));
        assert!(unavailable(|s| s.set_expiry(Duration::hours(1))));
        assert!(unavailable(|s| s.insert("n", 1).unwrap()));
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
        state.rebase(&base, true).unwrap();
        assert_eq!(state.data.get("mine"), Some(&json!(1)));
        assert_eq!(state.data.get("theirs"), Some(&json!(2)));
        assert_eq!(state.expiry, Expiry::BrowserClose);
    }

    #[test]
    fn a_stale_read_based_write_is_refused_and_leaves_the_session_as_it_was() {
        let loaded = Record::new(
            Data::from([("n".to_owned(), json!(5))]),
            Expiry::Default,
            datetime!(2030-01-02 0:00 UTC),
        );
        let s = Session::new(
            None,
            Some(loaded),
            ExpiryPolicy::default(),
            Arc::new(ManualClock::starting_now()),
        );
        let n: u64 = s.get_or_default("n").unwrap();
        s.insert("n", n + 1).unwrap();
        s.update("m", |m: Option<u64>| m.unwrap_or(0) + 1).unwrap();
        let theirs = Record::new(
            Data::from([("n".to_owned(), json!(7)), ("m".to_owned(), json!(3))]),
            Expiry::Default,
            datetime!(2030-01-02 0:00 UTC),
        );
        let mut state = s.lock();
        assert_eq!(state.rebase(&theirs, true).unwrap_err().key(), "n");
        assert_eq!(
            state.data.get("n"),
            Some(&json!(6)),
            "untouched by the refusal"
        );
        state.rebase(&theirs, false).unwrap();
        assert_eq!(state.data.get("n"), Some(&json!(6)), "last writer wins");
        assert_eq!(state.data.get("m"), Some(&json!(4)), "the update ran again");
    }

    #[test]
    fn a_read_based_write_is_kept_while_its_key_is_unchanged_and_writes_in_place() {
        let loaded = Arc::new(Data::from([
            ("n".to_owned(), json!(5)),
            ("blob".to_owned(), json!("x".repeat(100))),
        ]));
        let s = Session::new(
            None,
            Some(Record {
                data: Arc::clone(&loaded),
                ..Record::new(Data::new(), Expiry::Default, datetime!(2030-01-02 0:00 UTC))
            }),
            ExpiryPolicy::default(),
            Arc::new(ManualClock::starting_now()),
        );
        // Only the session holds the decoded data (as after a server store's load): its
        // first write changes it in place instead of copying every value.
        drop(loaded);
        let before = Arc::as_ptr(&s.data());
        let n: u64 = s.get_or_default("n").unwrap();
        s.insert("n", n + 1).unwrap();
        assert_eq!(Arc::as_ptr(&s.data()), before, "written in place");
        // Another request changed another key meanwhile: the write stays.
        let theirs = Record::new(
            Data::from([("n".to_owned(), json!(5)), ("m".to_owned(), json!(1))]),
            Expiry::Default,
            datetime!(2030-01-02 0:00 UTC),
        );
        let mut state = s.lock();
        state.rebase(&theirs, true).unwrap();
        assert_eq!(state.data.get("n"), Some(&json!(6)));
        assert_eq!(state.data.get("m"), Some(&json!(1)));
        // And then `n` itself: what the request read is gone, the write is refused.
        let changed = Record::new(
            Data::from([("n".to_owned(), json!(9))]),
            Expiry::Default,
            datetime!(2030-01-02 0:00 UTC),
        );
        assert_eq!(state.rebase(&changed, true).unwrap_err().key(), "n");
    }

    #[test]
    fn accessed_means_read_or_written() {
        let s = session();
        assert!(!s.is_accessed());
        assert_eq!(s.id(), None);
        assert!(s.is_new());
        assert!(!s.is_accessed());
        s.get::<u32>("x").unwrap();
        assert!(s.is_accessed() && !s.is_modified());
        let w = session();
        w.insert("a", 1).unwrap();
        assert!(w.is_accessed() && w.is_modified());
    }

    #[test]
    fn update_and_setdefault_return_what_they_stored() {
        let s = session();
        assert_eq!(
            s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).unwrap(),
            1
        );
        assert_eq!(
            s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).unwrap(),
            2
        );
        s.insert("text", "x").unwrap();
        assert!(s.update("text", |n: Option<u64>| n.unwrap_or(0)).is_err());
        assert_eq!(s.update_value("v", |_| Some(json!([1]))), Some(json!([1])));
        assert_eq!(s.update_value("v", |_| None), None);
        assert!(!s.contains_key("v"));
        assert_eq!(s.get_or("missing", 9u8).unwrap(), 9);
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
        state.rebase(&base, true).unwrap();
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
