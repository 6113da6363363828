//! Saving a request's session after the handler: Flask's `save_session`.

use std::borrow::Cow;

use http::HeaderValue;
use time::OffsetDateTime;
use tracing::{debug, error, warn};

use super::bounded::bounded;
use super::ids::IdCookie;
use super::lazy::Opened;
use super::{cookies, Backend, SessionError, Shared};
use crate::cookie_session::CookieCodec;
use crate::expiry::Expiry;
use crate::id::SessionId;
use crate::record::Record;
use crate::session::Origin;
use crate::store::{Expected, Saved, SharedStore};

/// What the response's `Set-Cookie` should say.
#[derive(Debug)]
pub(crate) enum CookieUpdate {
    Keep,
    /// Set (or, for a removal, expire) the cookie.
    Set(HeaderValue),
}

/// Persists what the handler did to the session and says what to do with the cookie.
pub(crate) async fn commit(shared: &Shared, opened: &Opened) -> Result<CookieUpdate, SessionError> {
    match &shared.backend {
        Backend::Cookie(codec) => Ok(commit_cookie(shared, codec.as_ref(), opened)),
        Backend::Store { store, ids } => commit_store(shared, store, ids, opened).await,
    }
}

/// What [`commit`] would return, when it needs no store call: cookie sessions, and server-side
/// sessions that were only read. `None` when the store must be written, touched or deleted.
/// Lets the response future skip building (and boxing) the asynchronous save.
pub(crate) fn commit_now(shared: &Shared, opened: &Opened) -> Option<CookieUpdate> {
    let ids = match &shared.backend {
        Backend::Cookie(codec) => return Some(commit_cookie(shared, codec.as_ref(), opened)),
        Backend::Store { ids, .. } => ids,
    };
    let config = &shared.config;
    let (has_origin, expiry) = {
        let state = opened.session.lock();
        let has_origin = state.origin.as_ref().is_some_and(|o| o.id.is_some());
        if state.modified || config.save_every_request || state.drop_origin {
            return None;
        }
        if state.data.is_empty() {
            return (!has_origin).then(|| removal(shared, opened));
        }
        (has_origin, state.expiry)
    };
    // The clock is read only for a fixed expiry date.
    let now = || config.clock.now();
    if !has_origin {
        // Nothing stored and nothing changed. (An expired deadline with no record needs no
        // delete either, and an empty session was handled above.)
        return Some(if config.policy.ended(expiry, now) {
            removal(shared, opened)
        } else {
            CookieUpdate::Keep
        });
    }
    let persistent = !config.policy.at_browser_close(expiry);
    if config.refresh_each_request && persistent {
        return None;
    }
    if config.policy.ended(expiry, now) {
        return None;
    }
    if opened.rotated {
        let now = now();
        let id = opened
            .session
            .lock()
            .origin
            .as_ref()
            .and_then(|o| o.id.clone())?;
        return Some(set_cookie(
            shared,
            id_value(shared, ids, opened, &id),
            expiry,
            config.policy.deadline(expiry, now),
            now,
        ));
    }
    Some(CookieUpdate::Keep)
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

async fn commit_store(
    shared: &Shared,
    store: &SharedStore,
    ids: &IdCookie,
    opened: &Opened,
) -> Result<CookieUpdate, SessionError> {
    let config = &shared.config;
    let now = config.clock.now();
    let (origin_id, version, drop_origin, modified, expiry, empty) = {
        let state = opened.session.lock();
        (
            state.origin.as_ref().and_then(|o| o.id.clone()),
            state.origin.as_ref().and_then(|o| o.version),
            state.drop_origin,
            state.modified,
            state.expiry,
            state.data.is_empty(),
        )
    };
    let expires_at = config.policy.deadline(expiry, now);

    if empty || expires_at <= now {
        if let Some(old) = &origin_id {
            bounded(shared, "delete", store.delete(old)).await?;
        }
        return Ok(removal(shared, opened));
    }

    if modified || config.save_every_request || drop_origin {
        let (id, expected) = match (&origin_id, version, drop_origin) {
            (Some(id), Some(version), false) => (id.clone(), Expected::Version(version)),
            _ => (
                config
                    .profile
                    .generate_id()
                    .map_err(crate::store::Error::from)?,
                Expected::Absent,
            ),
        };
        let saved = save(
            shared,
            store,
            opened,
            id,
            expected,
            (expiry, expires_at),
            now,
        )
        .await?;
        if let (true, Some(old)) = (drop_origin, &origin_id) {
            // The new record exists before the old one goes (Django's `cycle_key` order), so
            // a failure in between never logs the user out.
            bounded(shared, "delete", store.delete(old)).await?;
        }
        let Some((id, expiry, expires_at)) = saved else {
            // Emptied by the merge with a concurrent request's save.
            return Ok(removal(shared, opened));
        };
        return Ok(set_cookie(
            shared,
            id_value(shared, ids, opened, &id),
            expiry,
            expires_at,
            now,
        ));
    }

    let persistent = !config.policy.at_browser_close(expiry);
    let Some(id) = origin_id else {
        return Ok(CookieUpdate::Keep);
    };
    if config.refresh_each_request && persistent {
        if bounded(shared, "touch", store.touch(&id, expires_at)).await? {
            return Ok(set_cookie(
                shared,
                id_value(shared, ids, opened, &id),
                expiry,
                expires_at,
                now,
            ));
        }
        return Ok(removal(shared, opened));
    }
    if opened.rotated {
        return Ok(set_cookie(
            shared,
            id_value(shared, ids, opened, &id),
            expiry,
            expires_at,
            now,
        ));
    }
    Ok(CookieUpdate::Keep)
}

/// The conditional-write loop: save, and on a conflict reload, lay this request's changes over
/// the fresh record and save again. `deadline` is the session's expiry choice and its deadline
/// at `now`, recomputed only if a merge changes the choice. Returns the id, expiry and deadline
/// saved, or `None` when the merge left the session empty (it is then deleted).
async fn save(
    shared: &Shared,
    store: &SharedStore,
    opened: &Opened,
    mut id: SessionId,
    mut expected: Expected,
    mut deadline: (Expiry, OffsetDateTime),
    now: OffsetDateTime,
) -> Result<Option<(SessionId, Expiry, OffsetDateTime)>, SessionError> {
    let config = &shared.config;
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
            }
            return Ok(None);
        }
        match bounded(shared, "save", store.save(&id, &record, expected)).await? {
            Saved::Written(version) => {
                if attempt > 0 {
                    debug!(session = %id, attempts = attempt + 1, "saved after conflicts");
                }
                let mut state = opened.session.lock();
                state.id = Some(id.clone());
                state.origin = Some(Origin {
                    id: Some(id.clone()),
                    version: Some(version),
                });
                return Ok(Some((id, record.expiry, record.expires_at)));
            }
            // A new id collided (at least 165 random bits: astronomically unlikely): never overwrite.
            Saved::Conflict if expected == Expected::Absent => {
                id = config
                    .profile
                    .generate_id()
                    .map_err(crate::store::Error::from)?;
            }
            Saved::Conflict => {
                // Wait first, then reload: what is read right before the next try is freshest.
                back_off(attempt).await;
                let Some(fresh) = bounded(shared, "load", store.reload(&id)).await? else {
                    warn!(session = %id, "session deleted by a concurrent request; not saving");
                    return Err(SessionError::Interrupted);
                };
                opened.session.lock().rebase(&fresh.record);
                expected = Expected::Version(fresh.version);
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
