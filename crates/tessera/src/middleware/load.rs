//! Opening a request's session: Flask's `open_session`.

use tracing::warn;

use super::bounded::bounded;
use http::HeaderMap;

use super::cookies;
use super::ids::IdCookie;
use super::lazy::{Opened, Signature};
use super::{Backend, SessionError, Shared};
use crate::session::{Origin, Session};
use crate::store::{self, Loaded};

pub(crate) async fn open(shared: &Shared, headers: &HeaderMap) -> Result<Opened, SessionError> {
    let config = &shared.config;
    let fresh = |cookie_sent| Opened {
        session: Session::new(None, None, config.policy, config.clock.clone()),
        cookie_sent,
        rotated: false,
        id_signature: None,
    };
    let Some(value) = cookies::find(headers, &config.cookie.name) else {
        return Ok(fresh(false));
    };
    match &shared.backend {
        Backend::Cookie(codec) => {
            match codec.decode(&config.cookie.name, value, config.clock.now()) {
                Ok(decoded) => Ok(Opened {
                    session: Session::new(
                        Some(Origin {
                            id: None,
                            version: None,
                        }),
                        Some(decoded.record),
                        config.policy,
                        config.clock.clone(),
                    ),
                    cookie_sent: true,
                    rotated: decoded.rotated,
                    id_signature: None,
                }),
                Err(error) => {
                    warn!(%error, "refused the session cookie; starting a fresh session");
                    Ok(fresh(true))
                }
            }
        }
        Backend::Store { store, ids } => {
            let (id, rotated) = match ids.decode(&config.cookie.name, value) {
                Ok(decoded) => decoded,
                Err(error) => {
                    warn!(%error, "refused the session cookie; starting a fresh session");
                    return Ok(fresh(true));
                }
            };
            match bounded(shared, "load", store.load(&id)).await {
                Ok(Some(Loaded { record, version })) => Ok(Opened {
                    // Only a value signed with the current key is worth sending back as is.
                    id_signature: (!matches!(ids, IdCookie::Bare) && !rotated)
                        .then(|| Signature::of(value).map(|s| (id.clone(), s)))
                        .flatten(),
                    session: Session::new(
                        Some(Origin {
                            id: Some(id),
                            version: Some(version),
                        }),
                        Some(record),
                        config.policy,
                        config.clock.clone(),
                    ),
                    cookie_sent: true,
                    rotated,
                }),
                // Unknown or expired: never adopt the client's id (session fixation).
                Ok(None) => Ok(fresh(true)),
                Err(error @ store::Error::Corrupt { .. }) => {
                    warn!(%error, "starting a fresh session");
                    Ok(fresh(true))
                }
                Err(error) => Err(error.into()),
            }
        }
    }
}
