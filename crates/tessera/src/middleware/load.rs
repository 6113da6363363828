//! Opening a request's session: Flask's `open_session`.

use std::sync::Arc;

use tracing::{debug, warn};

use super::bounded::bounded;
use http::HeaderMap;

use super::cookies;
use super::ids::IdCookie;
use super::{outage, Backend, SessionError, Shared};
use crate::config::{Device, StoreOutage};
use crate::id::SessionId;
use crate::session::{Origin, Session};
use crate::store::{self, Loaded};

/// A loaded session and what the response needs to know of its cookie.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) session: Session,
    /// The request carried our cookie (valid or not).
    pub(crate) cookie_sent: bool,
    /// A fallback key verified the cookie: send it again under the current key.
    pub(crate) rotated: bool,
    /// The id the cookie named and its signature, when the current key verified it: sending
    /// the same id again reuses the signature instead of signing the id again.
    pub(crate) id_signature: Option<(SessionId, Signature)>,
    /// The store failed at load and the configuration goes on without it
    /// ([`StoreOutage::Anonymous`]): the session is read-only and the cookie is left alone.
    pub(crate) outage: Option<Arc<store::Error>>,
    /// The device of the request, when the configuration records devices.
    pub(crate) device: Option<Device>,
}

/// The signature part of a signed id cookie (after its last `.`), held inline: kept for every
/// loaded session with a signed id, used only when the cookie is sent again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signature {
    bytes: [u8; Self::MAX],
    len: u8,
}

impl Signature {
    /// Longest signature kept (tessera's is 43 characters, itsdangerous' SHA-1 one 27).
    const MAX: usize = 64;

    /// The signature of `value` (`id.signature`), if it has one that fits.
    pub(crate) fn of(value: &str) -> Option<Self> {
        let (_, signature) = value.rsplit_once('.')?;
        let len = u8::try_from(signature.len())
            .ok()
            .filter(|&n| usize::from(n) <= Self::MAX)?;
        let mut bytes = [0u8; Self::MAX];
        bytes[..signature.len()].copy_from_slice(signature.as_bytes());
        Some(Self { bytes, len })
    }

    /// `id.signature`.
    pub(crate) fn cookie_value(&self, id: &SessionId) -> Option<String> {
        let signature = std::str::from_utf8(&self.bytes[..usize::from(self.len)]).ok()?;
        let mut value = String::with_capacity(id.expose().len() + 1 + signature.len());
        value.push_str(id.expose());
        value.push('.');
        value.push_str(signature);
        Some(value)
    }
}

pub(crate) async fn open(shared: &Shared, headers: &HeaderMap) -> Result<Opened, SessionError> {
    let config = &shared.config;
    let fresh = |cookie_sent| Opened {
        session: Session::new(None, None, config.policy, config.clock.clone())
            .for_profile(config.profile),
        cookie_sent,
        rotated: false,
        id_signature: None,
        outage: None,
        device: None,
    };
    let Some(value) = cookies::find(headers, &config.cookie.name) else {
        return Ok(fresh(false));
    };
    match &shared.backend {
        Backend::Cookie(codec) => {
            match codec.decode(&config.cookie.name, value, config.clock.now()) {
                Ok(decoded)
                    if config
                        .timeouts
                        .outlived(&decoded.record.meta, config.clock.now()) =>
                {
                    debug!("the session cookie outlived the absolute timeout; starting a fresh session");
                    Ok(fresh(true))
                }
                Ok(decoded) => Ok(Opened {
                    session: Session::new(
                        Some(Origin {
                            id: None,
                            version: None,
                        }),
                        Some(decoded.record),
                        config.policy,
                        config.clock.clone(),
                    )
                    .for_profile(config.profile),
                    cookie_sent: true,
                    rotated: decoded.rotated,
                    id_signature: None,
                    outage: None,
                    device: None,
                }),
                Err(error) => {
                    warn!(error = %crate::chain::Chain(&error), "refused the session cookie; starting a fresh session");
                    Ok(fresh(true))
                }
            }
        }
        Backend::Store { store, ids } => {
            let (id, rotated) = match ids.decode(&config.cookie.name, value) {
                Ok(decoded) => decoded,
                Err(error) => {
                    warn!(error = %crate::chain::Chain(&error), "refused the session cookie; starting a fresh session");
                    return Ok(fresh(true));
                }
            };
            match bounded(shared, "load", store.load(&id)).await {
                Ok(Some(Loaded { record, .. }))
                    if config.timeouts.outlived(&record.meta, config.clock.now()) =>
                {
                    debug!(session = %id.log_tag(), "the session outlived the absolute timeout; starting a fresh session");
                    Ok(fresh(true))
                }
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
                    )
                    .for_profile(config.profile),
                    cookie_sent: true,
                    rotated,
                    outage: None,
                    device: None,
                }),
                // Unknown or expired: never adopt the client's id (session fixation).
                Ok(None) => Ok(fresh(true)),
                Err(error @ store::Error::Corrupt { .. }) => {
                    warn!(error = %crate::chain::Chain(&error), "starting a fresh session");
                    Ok(fresh(true))
                }
                Err(error) => match config.store_outage {
                    StoreOutage::Unavailable => Err(error.into()),
                    StoreOutage::Anonymous => Ok(outage::degraded(shared, &id, error)),
                },
            }
        }
    }
}
