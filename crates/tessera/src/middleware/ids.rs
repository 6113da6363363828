//! The cookie of a server-side store: the session id, signed or bare, in the profile's form.

use std::borrow::Cow;

use crate::crypto::{SignatureError, Signer};
use crate::id::SessionId;
use crate::interop::itsdangerous::ItsSigner;

/// How the id travels in the cookie.
#[derive(Debug, Clone)]
pub(crate) enum IdCookie {
    /// The bare id (`SESSION_USE_SIGNER` off).
    Bare,
    /// tessera's own signature: keyed BLAKE3 over the cookie name and the id.
    Signed(Signer),
    /// Flask-Session's `SESSION_USE_SIGNER`: itsdangerous with the salt `flask-session`.
    FlaskSession(ItsSigner),
}

/// Why a cookie names no session.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IdCookieError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Id(#[from] crate::id::InvalidId),
}

impl IdCookie {
    /// The cookie value for `id`.
    pub(crate) fn encode<'a>(&self, name: &str, id: &'a SessionId) -> Cow<'a, str> {
        match self {
            Self::Bare => Cow::Borrowed(id.expose()),
            Self::Signed(signer) => Cow::Owned(signer.sign(name, id.expose())),
            Self::FlaskSession(signer) => Cow::Owned(signer.sign(id.expose())),
        }
    }

    /// The id in a cookie value, and whether a fallback key verified it.
    pub(crate) fn decode(
        &self,
        name: &str,
        value: &str,
    ) -> Result<(SessionId, bool), IdCookieError> {
        let (raw, rotated) = match self {
            Self::Bare => (value, false),
            Self::Signed(signer) => {
                let verified = signer.verify(name, value)?;
                (verified.value, verified.rotated)
            }
            Self::FlaskSession(signer) => signer.unsign(value)?,
        };
        Ok((SessionId::parse(raw)?, rotated))
    }
}
