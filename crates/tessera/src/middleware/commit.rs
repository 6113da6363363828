//! Saving a request's session after the handler: Flask's `save_session`.

use std::borrow::Cow;

use http::HeaderValue;
use time::OffsetDateTime;
use tracing::{debug, error, warn};

use super::bounded::bounded;
use super::ids::IdCookie;
use super::lazy::Opened;
use super::queue::Turn;
use super::{cookies, Backend, SessionError, Shared};
use crate::config::{SessionConfig, StaleWrites};
use crate::cookie_session::CookieCodec;
use crate::expiry::Expiry;
use crate::id::SessionId;
use crate::record::Record;
use crate::session::{Origin, State};
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
    if state.data.is_empty() {
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
            Ok(set_cookie(
                shared,
                id_value(shared, ids, opened, &id),
                expiry,
                config.policy.deadline(expiry, now),
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
    let expires_at = config.policy.deadline(state.expiry, now);
    if state.data.is_empty() || expires_at <= now {
        return removal(shared, opened);
    }
    let record = Record {
        data: state.data.clone(),
        expiry: state.expiry,
        expires_at,
    };
    drop(state);
    let value = match codec.encode(&config.cookie.name, &record, now) {
        Ok(value) => value,
        Err(error) => {
            error!(%error, "could not encode the session cookie; the cookie is not updated");
            return CookieUpdate::Keep;
        }
    };
    set_cookie(
        shared,
        Cow::Owned(value),
        record.expiry,
        record.expires_at,
        now,
    )
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
            Ok(removal(shared, opened))
        }
        Work::Touch(id, expiry) => {
            let now = config.clock.now();
            let expires_at = config.policy.deadline(expiry, now);
            if bounded(shared, "touch", store.touch(&id, expires_at)).await? {
                Ok(set_cookie(
                    shared,
                    id_value(shared, ids, opened, &id),
                    expiry,
                    expires_at,
                    now,
                ))
            } else {
                Ok(removal(shared, opened))
            }
        }
        Work::Save => save_session(shared, store, ids, opened).await,
    }
}

/// Deletes `id`'s record in its commit turn, so a commit of the same session waiting in this
/// process learns it is gone.
async fn delete(shared: &Shared, store: &SharedStore, id: &SessionId) -> Result<(), SessionError> {
    let mut turn = shared.queues.enter(id, shared.config.store_timeout).await?;
    bounded(shared, "delete", store.delete(id)).await?;
    turn.deleted();
    Ok(())
}

async fn save_session(
    shared: &Shared,
    store: &SharedStore,
    ids: &IdCookie,
    opened: &Opened,
) -> Result<CookieUpdate, SessionError> {
    let config = &shared.config;
    let now = config.clock.now();
    let (origin_id, version, drop_origin, expiry) = {
        let state = opened.session.lock();
        (
            state.origin.as_ref().and_then(|o| o.id.clone()),
            state.origin.as_ref().and_then(|o| o.version),
            state.drop_origin,
            state.expiry,
        )
    };
    let deadline = (expiry, config.policy.deadline(expiry, now));
    let saved = match (&origin_id, version, drop_origin) {
        (Some(id), Some(version), false) => {
            let mut turn = shared.queues.enter(id, config.store_timeout).await?;
            let target = (id.clone(), Expected::Version(version));
            save(
                shared,
                store,
                opened,
                target,
                Some(&mut turn),
                deadline,
                now,
            )
            .await?
        }
        _ => {
            let id = config
                .profile
                .generate_id()
                .map_err(crate::store::Error::from)?;
            save(
                shared,
                store,
                opened,
                (id, Expected::Absent),
                None,
                deadline,
                now,
            )
            .await?
        }
    };
    if let (true, Some(old)) = (drop_origin, &origin_id) {
        // The new record exists before the old one goes (Django's `cycle_key` order), so
        // a failure in between never logs the user out.
        delete(shared, store, old).await?;
    }
    let Some((id, expiry, expires_at)) = saved else {
        // Emptied by the merge with a concurrent request's save.
        return Ok(removal(shared, opened));
    };
    Ok(set_cookie(
        shared,
        id_value(shared, ids, opened, &id),
        expiry,
        expires_at,
        now,
    ))
}

/// The conditional-write loop: save `target` (an id and the precondition), and on a conflict
/// reload, lay this request's changes over the fresh record and save again, for at most
/// `save_retries` retries and `save_retry_time`. `turn` is the session's commit turn in this
/// process (for an existing session): a record a previous commit wrote there is used without
/// a failed write first. `deadline` is the session's expiry choice and its deadline at `now`,
/// recomputed only if a merge changes the choice. Returns the id, expiry and deadline saved, or
/// `None` when the merge left the session empty (it is then deleted).
async fn save(
    shared: &Shared,
    store: &SharedStore,
    opened: &Opened,
    (mut id, mut expected): (SessionId, Expected),
    mut turn: Option<&mut Turn<'_>>,
    mut deadline: (Expiry, OffsetDateTime),
    now: OffsetDateTime,
) -> Result<Option<(SessionId, Expiry, OffsetDateTime)>, SessionError> {
    let config = &shared.config;
    let refuse_stale = config.stale_writes == StaleWrites::Conflict;
    if let (Some(turn), Expected::Version(version)) = (turn.as_deref(), expected) {
        if let Some(latest) = turn.newer_than(version) {
            opened.session.lock().rebase(&latest.record, refuse_stale)?;
            expected = Expected::Version(latest.version);
        }
    }
    // The retry time counts from the first conflict: the first try is bounded by the store
    // timeout alone (it may wait for another app server's write of the same session).
    let mut retrying_since = None;
    let attempts = config.save_retries.saturating_add(1);
    for attempt in 0..attempts {
        let record = {
            let state = opened.session.lock();
            if state.expiry != deadline.0 {
                deadline = (state.expiry, config.policy.deadline(state.expiry, now));
            }
            Record {
                data: state.data.clone(),
                expiry: deadline.0,
                expires_at: deadline.1,
            }
        };
        if record.data.is_empty() {
            if matches!(expected, Expected::Version(_)) {
                bounded(shared, "delete", store.delete(&id)).await?;
                if let Some(turn) = turn.as_deref_mut() {
                    turn.deleted();
                }
            }
            return Ok(None);
        }
        match bounded(shared, "save", store.save(&id, &record, expected)).await? {
            Saved::Written(version) => {
                if attempt > 0 {
                    debug!(session = %id, attempts = attempt + 1, "saved after conflicts");
                }
                let expiry = record.expiry;
                let expires_at = record.expires_at;
                if let (Some(turn), Expected::Version(replaced)) = (turn.as_deref_mut(), expected) {
                    turn.replaced(replaced);
                    turn.holds(Loaded { record, version });
                }
                let mut state = opened.session.lock();
                state.id = Some(id.clone());
                state.origin = Some(Origin {
                    id: Some(id.clone()),
                    version: Some(version),
                });
                return Ok(Some((id, expiry, expires_at)));
            }
            // A new id collided (at least 165 random bits: astronomically unlikely): never overwrite.
            Saved::Conflict if expected == Expected::Absent => {
                id = config
                    .profile
                    .generate_id()
                    .map_err(crate::store::Error::from)?;
            }
            Saved::Conflict => {
                if let (Some(turn), Expected::Version(stale)) = (turn.as_deref_mut(), expected) {
                    turn.replaced(stale);
                }
                let since = *retrying_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= config.save_retry_time {
                    return Err(SessionError::Contended(attempt + 1));
                }
                // Wait first, then reload: what is read right before the next try is freshest.
                back_off(attempt).await;
                let Some(fresh) = bounded(shared, "load", store.reload(&id)).await? else {
                    if let Some(turn) = turn.as_deref_mut() {
                        turn.deleted();
                    }
                    warn!(session = %id, "session deleted by a concurrent request; not saving");
                    return Err(SessionError::Interrupted);
                };
                opened.session.lock().rebase(&fresh.record, refuse_stale)?;
                expected = Expected::Version(fresh.version);
                if let Some(turn) = turn.as_deref_mut() {
                    turn.holds(fresh);
                }
            }
        }
    }
    Err(SessionError::Contended(attempts))
}

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
    value: Cow<'_, str>,
    expiry: Expiry,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> CookieUpdate {
    let config = &shared.config;
    let expires = (!config.policy.at_browser_close(expiry)).then_some(expires_at);
    match cookies::set(&config.cookie, &value, expires, now) {
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
