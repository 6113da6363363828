//! A store that fails while a request's session is loaded, under
//! [`StoreOutage::Anonymous`](crate::config::StoreOutage::Anonymous): the request goes on with
//! an empty, read-only session, and its response leaves the cookie alone so the user finds
//! their session again once the store is back.

use std::sync::Arc;

use tracing::warn;

use super::commit::CookieUpdate;
use super::load::Opened;
use super::{SessionError, Shared};
use crate::id::SessionId;
use crate::session::Session;
use crate::store;

/// The session of a request whose cookie named `id` and whose load failed with `error`.
pub(crate) fn degraded(shared: &Shared, id: &SessionId, error: store::Error) -> Opened {
    warn!(
        session = %id.log_tag(),
        error = %crate::chain::Chain(&error),
        "could not load the session; going on with an empty read-only session"
    );
    let config = &shared.config;
    Opened {
        session: Session::unavailable(config.policy, config.clock.clone()),
        // `true`, though never used to remove the cookie: `finish` keeps it whatever happens.
        cookie_sent: true,
        rotated: false,
        id_signature: None,
        outage: Some(Arc::new(error)),
        device: None,
    }
}

/// The end of a request whose session could not be loaded; `None` for any other session.
///
/// Nothing is sent to the store, even a deletion: the request knows nothing of the record, and
/// a store that just failed would likely fail again. The cookie is never set, refreshed or
/// removed. A request that wrote anything is refused, as its writes cannot be kept.
pub(crate) fn finish(opened: &Opened) -> Option<Result<CookieUpdate, SessionError>> {
    let error = opened.outage.as_ref()?;
    Some(if opened.session.lock().wrote() {
        Err(SessionError::ReadOnly(error.clone()))
    } else {
        Ok(CookieUpdate::Keep)
    })
}
