//! Saving a request's session after the handler: Flask's `save_session`.

use std::borrow::Cow;

use http::HeaderValue;
use time::OffsetDateTime;
use tracing::{debug, error, warn};

use super::bounded::bounded;
use super::ids::IdCookie;
use super::load::Opened;
use super::queue::{Joined, Lead, Member, Outcome, Turn as QueueTurn};
use super::{cookies, Backend, SessionError, Shared};
use crate::config::{Device, SessionConfig, StaleWrites};
use crate::cookie_session::CookieCodec;
use crate::events::{Hook, SessionEvent};
use crate::expiry::Expiry;
use crate::id::SessionHandle;
use crate::id::SessionId;
use crate::record::Meta;
use crate::record::{Record, Version};
use crate::session::{Origin, Session, State};
use crate::store::{Expected, Loaded, Saved, SharedStore};

/// What the response's `Set-Cookie` should say.
#[derive(Debug)]
pub(crate) enum CookieUpdate {
    Keep,
    /// Set (or, for a removal, expire) the cookie.
    Set(HeaderValue),
}

/// What the end of a request does with a server-side session, decided from the session's
/// state alone, by [`plan`].
#[derive(Debug, PartialEq)]
enum Plan {
    /// Nothing to store; the cookie stays as it is.
    Keep,
    /// Nothing left to keep: delete the stored record (if there is one) and the cookie.
    Remove(Option<SessionId>),
    /// Save the session (under a new id if it has none or it was cycled).
    Save,
    /// Move the stored deadline (`refresh_each_request`) and send the cookie again.
    Touch(SessionId, Expiry),
    /// Send the cookie again, signed with the current key (a fallback key verified it).
    Resend(SessionId, Expiry),
}

/// The store work a commit needs: what [`commit_now`] cannot finish by itself.
#[derive(Debug)]
pub(crate) enum Work {
    Delete(SessionId),
    Save,
    Touch(SessionId, Expiry),
}

/// How far a logged-in session's [`Meta::seen`] may lag before a touch becomes a save.
const SEEN_EVERY: time::Duration = time::Duration::minutes(1);

/// The metadata `state` is stored with at `now`: when it began (set on the first save of a
/// session with a user, or of any session under an absolute timeout) and, for a session with
/// a user, when and from which device it was last saved.
fn meta_of(
    config: &SessionConfig,
    state: &State,
    device: Option<&Device>,
    now: OffsetDateTime,
) -> Meta {
    if !keeps_meta(config, state) {
        return Meta::default();
    }
    let mut meta = state.meta.clone();
    // The Python profiles keep the user in the data.
    let user = state.user().is_some();
    if state.user_key.is_some() {
        meta.user = None;
    }
    if meta.created.is_none() && (user || config.timeouts.absolute.is_some()) {
        meta.created = Some(now);
    }
    if user {
        meta.seen = Some(now);
        if let Some(device) = device {
            meta.agent.clone_from(&device.agent);
            meta.client.clone_from(&device.client);
        }
    } else {
        (meta.seen, meta.agent, meta.client) = (None, None, None);
    }
    meta
}

/// Whether the session's record carries [`Meta`]: always in tessera's own profile; in the
/// Python ones, whose session dict the Python app reads too, only when a setting needs it (an
/// absolute timeout needs the start, device recording the device), so by default tessera
/// writes the dict exactly as the framework would.
fn keeps_meta(config: &SessionConfig, state: &State) -> bool {
    state.user_key.is_none() || config.timeouts.absolute.is_some() || config.devices.on
}

/// The deadline of a session saved or touched at `now`: its expiry's, capped by the idle and
/// absolute timeouts.
fn deadline_of(
    config: &SessionConfig,
    expiry: Expiry,
    created: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> OffsetDateTime {
    config
        .timeouts
        .deadline(config.policy, expiry, created, now)
}

/// Enters `id` in the store's index of `user`'s sessions until `until`, before the session's
/// record is written or its deadline moved; nothing for a store that keeps no index (the
/// per-user calls refuse there).
async fn enter(
    shared: &Shared,
    store: &SharedStore,
    user: &str,
    id: &SessionId,
    until: OffsetDateTime,
) -> Result<(), crate::store::Error> {
    match store.user_index() {
        Ok(index) => {
            bounded(
                shared,
                "enter in the user index",
                index.enter(user, id, until),
            )
            .await
        }
        Err(crate::store::Error::Unsupported { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}

/// The current time, read from the clock at most once and only if needed.
struct Now<'a> {
    clock: &'a crate::clock::SharedClock,
    at: std::cell::Cell<Option<OffsetDateTime>>,
}

impl<'a> Now<'a> {
    fn new(clock: &'a crate::clock::SharedClock) -> Self {
        Self {
            clock,
            at: std::cell::Cell::new(None),
        }
    }

    fn get(&self) -> OffsetDateTime {
        if let Some(at) = self.at.get() {
            return at;
        }
        let now = self.clock.now();
        self.at.set(Some(now));
        now
    }
}

fn plan(config: &SessionConfig, state: &State, rotated: bool, now: &Now<'_>) -> Plan {
    let origin = state.origin.as_ref().and_then(|o| o.id.as_ref());
    if state.holds_nothing() {
        return Plan::Remove(origin.cloned());
    }
    let ended = || config.policy.ended(state.expiry, || now.get());
    if state.modified || config.save_every_request || state.drop_origin {
        return if ended() {
            Plan::Remove(origin.cloned())
        } else {
            Plan::Save
        };
    }
    let Some(id) = origin else {
        // Nothing stored and nothing changed.
        return if ended() {
            Plan::Remove(None)
        } else {
            Plan::Keep
        };
    };
    if ended() {
        return Plan::Remove(Some(id.clone()));
    }
    if config.refresh_each_request && !config.policy.at_browser_close(state.expiry) {
        // A logged-in session's "last seen" moves with a save; a touch that would leave it
        // behind by a minute or more becomes one.
        let seen_behind = || {
            state
                .meta
                .seen
                .is_none_or(|seen| now.get() - seen >= SEEN_EVERY)
        };
        if keeps_meta(config, state) && state.user().is_some() && seen_behind() {
            return Plan::Save;
        }
        return Plan::Touch(id.clone(), state.expiry);
    }
    if rotated {
        return Plan::Resend(id.clone(), state.expiry);
    }
    Plan::Keep
}

/// Finishes the commit when it needs no store call (cookie sessions, and server-side sessions
/// that were only read), so the response future needs no boxed save; otherwise says what
/// store work is left for [`commit_store`].
pub(crate) fn commit_now(shared: &Shared, opened: &Opened) -> Result<CookieUpdate, Work> {
    let ids = match &shared.backend {
        Backend::Cookie(codec) => return Ok(commit_cookie(shared, codec.as_ref(), opened)),
        Backend::Store { ids, .. } => ids,
    };
    let config = &shared.config;
    let now = Now::new(&config.clock);
    let plan = plan(config, &opened.session.lock(), opened.rotated, &now);
    match plan {
        Plan::Keep => Ok(CookieUpdate::Keep),
        Plan::Remove(None) => Ok(removal(shared, opened)),
        Plan::Remove(Some(id)) => Err(Work::Delete(id)),
        Plan::Save => Err(Work::Save),
        Plan::Touch(id, expiry) => Err(Work::Touch(id, expiry)),
        Plan::Resend(id, expiry) => {
            let now = now.get();
            let created = opened.session.lock().meta.created;
            Ok(id_cookie(
                shared,
                ids,
                opened,
                &id,
                (expiry, deadline_of(config, expiry, created, now)),
                now,
            ))
        }
    }
}

fn commit_cookie(shared: &Shared, codec: &dyn CookieCodec, opened: &Opened) -> CookieUpdate {
    let config = &shared.config;
    let state = opened.session.lock();
    let persistent = !config.policy.at_browser_close(state.expiry);
    let refresh = config.refresh_each_request && persistent;
    if !(state.modified || config.save_every_request || refresh || opened.rotated) {
        return CookieUpdate::Keep;
    }
    let now = config.clock.now();
    let meta = meta_of(config, &state, opened.device.as_ref(), now);
    let expires_at = deadline_of(config, state.expiry, meta.created, now);
    if state.holds_nothing() || expires_at <= now {
        return removal(shared, opened);
    }
    let record = Record {
        data: state.data.clone(),
        expiry: state.expiry,
        expires_at,
        meta,
    };
    drop(state);
    let value = match codec.encode(&config.cookie.name, &record, now) {
        Ok(value) => value,
        Err(error) => {
            error!(error = %crate::chain::Chain(&error), "could not encode the session cookie; the cookie is not updated");
            return CookieUpdate::Keep;
        }
    };
    set_cookie(shared, &value, record.expiry, record.expires_at, now)
}

/// Does the store work [`commit_now`] left, and says what to do with the cookie.
pub(crate) async fn commit_store(
    shared: &Shared,
    opened: &Opened,
    work: Work,
) -> Result<CookieUpdate, SessionError> {
    let Backend::Store { store, ids } = &shared.backend else {
        return Ok(CookieUpdate::Keep);
    };
    let config = &shared.config;
    match work {
        Work::Delete(id) => {
            delete(shared, store, &id).await?;
            let user = opened.session.lock().loaded_user.clone();
            Hook::emit(shared.events.as_ref(), || SessionEvent::Flushed {
                session: SessionHandle::of(&id),
                user,
            });
            Ok(removal(shared, opened))
        }
        Work::Touch(id, expiry) => {
            let now = config.clock.now();
            let (user, created) = {
                let state = opened.session.lock();
                (state.user(), state.meta.created)
            };
            let expires_at = deadline_of(config, expiry, created, now);
            if let Some(user) = &user {
                enter(shared, store, user, &id, expires_at).await?;
            }
            if bounded(shared, "touch", store.touch(&id, expires_at)).await? {
                Ok(id_cookie(
                    shared,
                    ids,
                    opened,
                    &id,
                    (expiry, expires_at),
                    now,
                ))
            } else {
                Ok(removal(shared, opened))
            }
        }
        Work::Save => save_session(shared, store, ids, opened).await,
    }
}

/// Deletes `id`'s record; a queue of this session in this process forgets its copy.
async fn delete(shared: &Shared, store: &SharedStore, id: &SessionId) -> Result<(), SessionError> {
    bounded(shared, "delete", store.delete(id)).await?;
    shared.queues.forget(id);
    Ok(())
}

/// What a save stored: the id, the expiry choice and the deadline; `None` when the merge with
/// concurrent requests left the session empty (it was then deleted).
type Stored = Option<(SessionId, Expiry, OffsetDateTime)>;

async fn save_session(
    shared: &Shared,
    store: &SharedStore,
    ids: &IdCookie,
    opened: &Opened,
) -> Result<CookieUpdate, SessionError> {
    let now = shared.config.clock.now();
    let (origin_id, version, drop_origin) = {
        let state = opened.session.lock();
        (
            state.origin.as_ref().and_then(|o| o.id.clone()),
            state.origin.as_ref().and_then(|o| o.version),
            state.drop_origin,
        )
    };
    let saved = match (&origin_id, version, drop_origin) {
        (Some(id), Some(version), false) => {
            save_existing(shared, store, opened, id, version, now).await?
        }
        _ => save_new(shared, store, opened, now).await?,
    };
    if let (true, Some(old)) = (drop_origin, &origin_id) {
        // The new record exists before the old one goes (Django's `cycle_key` order), so
        // a failure in between never logs the user out.
        delete(shared, store, old).await?;
    }
    let Some((id, expiry, expires_at)) = saved else {
        return Ok(removal(shared, opened));
    };
    if let Some(events) = &shared.events {
        let (cleared, loaded_user, user) = {
            let state = opened.session.lock();
            (state.cleared, state.loaded_user.clone(), state.user())
        };
        let new = SessionHandle::of(&id);
        match (&origin_id, drop_origin) {
            (Some(old), true) if !cleared => events.0.on_event(SessionEvent::Cycled {
                from: SessionHandle::of(old),
                to: new,
                user,
            }),
            (Some(old), true) => {
                events.0.on_event(SessionEvent::Flushed {
                    session: SessionHandle::of(old),
                    user: loaded_user,
                });
                events
                    .0
                    .on_event(SessionEvent::Created { session: new, user });
            }
            (None, _) => events
                .0
                .on_event(SessionEvent::Created { session: new, user }),
            (Some(_), false) => {}
        }
    }
    Ok(id_cookie(
        shared,
        ids,
        opened,
        &id,
        (expiry, expires_at),
        now,
    ))
}

/// The record `state` would store at `now`, saved from `device`.
fn record_of(
    config: &SessionConfig,
    state: &State,
    device: Option<&Device>,
    now: OffsetDateTime,
) -> Record {
    let meta = meta_of(config, state, device, now);
    Record {
        data: state.data.clone(),
        expiry: state.expiry,
        expires_at: deadline_of(config, state.expiry, meta.created, now),
        meta,
    }
}

/// Saves a new session (or a cycled one) under a new id.
async fn save_new(
    shared: &Shared,
    store: &SharedStore,
    opened: &Opened,
    now: OffsetDateTime,
) -> Result<Stored, SessionError> {
    let config = &shared.config;
    let record = record_of(config, &opened.session.lock(), opened.device.as_ref(), now);
    let attempts = config.save_retries.saturating_add(1);
    for _ in 0..attempts {
        let id = config
            .profile
            .generate_id()
            .map_err(crate::store::Error::from)?;
        if let Some(user) = record.user_of(config.profile) {
            enter(shared, store, &user, &id, record.expires_at).await?;
        }
        // A new id that collides (at least 165 random bits: astronomically unlikely) is never
        // overwritten: another one is drawn.
        if let Saved::Written(version) =
            bounded(shared, "save", store.save(&id, &record, Expected::Absent)).await?
        {
            let mut state = opened.session.lock();
            state.id = Some(id.clone());
            state.origin = Some(Origin {
                id: Some(id.clone()),
                version: Some(version),
            });
            return Ok(Some((id, record.expiry, record.expires_at)));
        }
    }
    Err(SessionError::Contended(attempts))
}

/// Saves an existing session through its queue: as a member of a group another commit writes,
/// or as the leader of a group.
async fn save_existing(
    shared: &Shared,
    store: &SharedStore,
    opened: &Opened,
    id: &SessionId,
    version: Version,
    now: OffsetDateTime,
) -> Result<Stored, SessionError> {
    let lead = loop {
        match shared.queues.join(id, &opened.session, version) {
            Joined::Lead(lead) => break lead,
            Joined::Follow(follower) => match follower.wait().await {
                QueueTurn::Done(outcome) => return stored(&opened.session, id, outcome),
                QueueTurn::Lead(lead) => break lead,
                QueueTurn::Rejoin => {}
            },
        }
    };
    let group = lead.group();
    let (me, mine) = Member::new(opened.session.clone(), version);
    write_group(
        shared,
        store,
        &lead,
        id,
        (me, group),
        opened.device.as_ref(),
        now,
    )
    .await;
    drop(lead);
    // Every part of a group is told its outcome, the leader included.
    let outcome = mine
        .await
        .unwrap_or(Outcome::Failed(SessionError::Contended(0)));
    stored(&opened.session, id, outcome)
}

/// A commit's result from its group's outcome.
fn stored(session: &Session, id: &SessionId, outcome: Outcome) -> Result<Stored, SessionError> {
    match outcome {
        Outcome::Saved(version, expiry, expires_at) => {
            let mut state = session.lock();
            state.id = Some(id.clone());
            state.origin = Some(Origin {
                id: Some(id.clone()),
                version: Some(version),
            });
            Ok(Some((id.clone(), expiry, expires_at)))
        }
        Outcome::Deleted => Ok(None),
        Outcome::Failed(error) => Err(error),
        // Only a waiting member is told to lead, and it then leads.
        Outcome::Lead => Err(SessionError::Contended(0)),
    }
}

/// Writes a group: the leader's changes, then each member's, laid one after another over the
/// freshest record the queue knows, then one conditional write. On a conflict with another app
/// server: reload, lay them all over the fresh record again and retry, for at most
/// `save_retries` retries and `save_retry_time` from the first conflict. A member whose read
/// went stale is refused alone. Every part, the leader included, is told its outcome.
async fn write_group(
    shared: &Shared,
    store: &SharedStore,
    lead: &Lead<'_>,
    id: &SessionId,
    (leader, members): (Member, Vec<Member>),
    device: Option<&Device>,
    now: OffsetDateTime,
) {
    let config = &shared.config;
    let refuse_stale = config.stale_writes == StaleWrites::Conflict;
    let (mut base, mut expected) = match lead.newer_than(leader.version) {
        Some(latest) => (Some(latest.record), latest.version),
        None => (None, leader.version),
    };
    let mut parts: Vec<Option<Member>> = std::iter::once(leader).chain(members).map(Some).collect();
    let mut retrying_since = None;
    let attempts = config.save_retries.saturating_add(1);
    let tell_all = |parts: &mut Vec<Option<Member>>, outcome: &dyn Fn() -> Outcome| {
        for member in parts.iter_mut().filter_map(Option::take) {
            member.tell(outcome());
        }
    };
    for attempt in 0..attempts {
        // Lay every live part's changes over the base, one after another.
        let mut current = base.clone();
        let mut live = 0;
        for part in &mut parts {
            let Some(member) = part else { continue };
            let mut state = member.session.lock();
            if let Some(record) = &current {
                if let Err(stale) = state.rebase(record, refuse_stale) {
                    drop(state);
                    if let Some(member) = part.take() {
                        member.tell(Outcome::Failed(SessionError::Conflict(stale)));
                    }
                    continue;
                }
            }
            current = Some(record_of(config, &state, device, now));
            live += 1;
        }
        let Some(record) = current.filter(|_| live > 0) else {
            break;
        };
        if record.data.is_empty() && record.meta.user.is_none() {
            let deleted = bounded(shared, "delete", store.delete(id)).await;
            lead.holds(None);
            match deleted {
                Ok(()) => tell_all(&mut parts, &|| Outcome::Deleted),
                Err(error) => {
                    let relayed = Relayed::from(&error);
                    tell_all(&mut parts, &|| Outcome::Failed(relayed.error()));
                }
            }
            break;
        }
        let entered = match record.user_of(config.profile) {
            Some(user) => enter(shared, store, &user, id, record.expires_at).await,
            None => Ok(()),
        };
        if let Err(error) = entered {
            lead.holds(None);
            let relayed = Relayed::from(&error);
            tell_all(&mut parts, &|| Outcome::Failed(relayed.error()));
            break;
        }
        let retried = |saved| {
            if attempt > 0 {
                Hook::emit(shared.events.as_ref(), || SessionEvent::Retried {
                    session: SessionHandle::of(id),
                    attempts: attempt + 1,
                    saved,
                });
            }
        };
        match bounded(
            shared,
            "save",
            store.save(id, &record, Expected::Version(expected)),
        )
        .await
        {
            Err(error) => {
                lead.holds(None);
                let relayed = Relayed::from(&error);
                tell_all(&mut parts, &|| Outcome::Failed(relayed.error()));
                break;
            }
            Ok(Saved::Written(version)) => {
                if attempt > 0 {
                    debug!(session = %id, attempts = attempt + 1, live, "saved after conflicts");
                }
                retried(true);
                lead.replaced(expected);
                let (expiry, expires_at) = (record.expiry, record.expires_at);
                lead.holds(Some(Loaded { record, version }));
                tell_all(&mut parts, &|| Outcome::Saved(version, expiry, expires_at));
                break;
            }
            Ok(Saved::Conflict) => {
                lead.replaced(expected);
                let since = *retrying_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= config.save_retry_time {
                    retried(false);
                    tell_all(&mut parts, &|| {
                        Outcome::Failed(SessionError::Contended(attempt + 1))
                    });
                    break;
                }
                // Wait first, then reload: what is read right before the next try is freshest.
                back_off(attempt).await;
                match bounded(shared, "load", store.reload(id)).await {
                    Err(error) => {
                        lead.holds(None);
                        let relayed = Relayed::from(&error);
                        tell_all(&mut parts, &|| Outcome::Failed(relayed.error()));
                        break;
                    }
                    Ok(None) => {
                        lead.holds(None);
                        warn!(session = %id, "session deleted by a concurrent request; not saving");
                        tell_all(&mut parts, &|| Outcome::Failed(SessionError::Interrupted));
                        break;
                    }
                    Ok(Some(fresh)) => {
                        expected = fresh.version;
                        base = Some(fresh.record.clone());
                        lead.holds(Some(fresh));
                    }
                }
            }
        }
    }
    // Attempts exhausted (every other exit has told every part).
    tell_all(&mut parts, &|| {
        Outcome::Failed(SessionError::Contended(attempts))
    });
}

/// A store error told to every member of a group (the error itself is not `Clone`).
#[derive(Debug, Clone)]
struct Relayed {
    op: &'static str,
    message: std::sync::Arc<str>,
    timeout: Option<std::time::Duration>,
}

impl From<&crate::store::Error> for Relayed {
    fn from(error: &crate::store::Error) -> Self {
        let (op, timeout) = match error {
            crate::store::Error::Timeout { op, after } => (*op, Some(*after)),
            crate::store::Error::Unavailable { op, .. } => (*op, None),
            _ => ("save", None),
        };
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Self {
            op,
            message: message.into(),
            timeout,
        }
    }
}

impl Relayed {
    fn error(&self) -> SessionError {
        SessionError::Store(match self.timeout {
            Some(after) => crate::store::Error::Timeout { op: self.op, after },
            None => crate::store::Error::unavailable(self.op, RelayedCause(self.message.clone())),
        })
    }
}

/// The cause of a relayed store error: the original error chain, as text.
#[derive(Debug)]
struct RelayedCause(std::sync::Arc<str>);

impl std::fmt::Display for RelayedCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RelayedCause {}

/// The first retry waits up to this long; each further one doubles the bound.
const BACKOFF_STEP: std::time::Duration = std::time::Duration::from_micros(250);
/// The bound stops doubling here (250 µs × 2⁷ = 32 ms).
const BACKOFF_MAX_DOUBLINGS: u32 = 7;

/// Waits a random time below an exponentially growing bound ("full jitter"), so writers that
/// lost the same race retry one after another instead of colliding again.
async fn back_off(attempt: u32) {
    let bound = BACKOFF_STEP * (1u32 << attempt.min(BACKOFF_MAX_DOUBLINGS));
    let mut random = [0u8; 4];
    // Without randomness, wait the whole bound: still a pause, only not a spread one.
    let fraction = match getrandom::fill(&mut random) {
        Ok(()) => f64::from(u32::from_ne_bytes(random)) / f64::from(u32::MAX),
        Err(_) => 1.0,
    };
    tokio::time::sleep(bound.mul_f64(fraction)).await;
}

/// The `Set-Cookie` naming `id`, for a session with this expiry choice and deadline.
fn id_cookie(
    shared: &Shared,
    ids: &IdCookie,
    opened: &Opened,
    id: &SessionId,
    (expiry, expires_at): (Expiry, OffsetDateTime),
    now: OffsetDateTime,
) -> CookieUpdate {
    set_cookie(
        shared,
        &id_value(shared, ids, opened, id),
        expiry,
        expires_at,
        now,
    )
}

/// The cookie value naming `id`, in the profile's form. The request's own cookie is reused
/// when it already names `id` under the current key, which spares signing it again.
fn id_value<'a>(
    shared: &Shared,
    ids: &IdCookie,
    opened: &'a Opened,
    id: &'a SessionId,
) -> Cow<'a, str> {
    if let Some((named, signature)) = &opened.id_signature {
        if named == id {
            if let Some(value) = signature.cookie_value(id) {
                return Cow::Owned(value);
            }
        }
    }
    ids.encode(&shared.config.cookie.name, id)
}

/// The `Set-Cookie` for `value`, for a session with this expiry choice whose deadline is
/// `expires_at` (a browser-session cookie when the choice says so).
fn set_cookie(
    shared: &Shared,
    value: &str,
    expiry: Expiry,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> CookieUpdate {
    let config = &shared.config;
    let expires = (!config.policy.at_browser_close(expiry)).then_some(expires_at);
    match cookies::set(&config.cookie, value, expires, now) {
        Ok(header) => CookieUpdate::Set(header),
        Err(cookies::SetCookieError::Oversized(size)) => {
            error!(
                size,
                limit = crate::config::MAX_COOKIE_SIZE,
                "the session cookie is too large for browsers and was not sent; keep less in a cookie session or use a server-side store"
            );
            CookieUpdate::Keep
        }
        Err(cookies::SetCookieError::BadValue) => {
            error!("the session cookie value holds characters a cookie cannot carry; not sent");
            CookieUpdate::Keep
        }
    }
}

/// Deletes the cookie if the browser sent one.
fn removal(shared: &Shared, opened: &Opened) -> CookieUpdate {
    if opened.cookie_sent {
        CookieUpdate::Set(cookies::remove(&shared.config.cookie))
    } else {
        CookieUpdate::Keep
    }
}
