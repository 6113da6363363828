//! Secret keys, key rotation, signing and sealing.
//!
//! Every secret in a [`KeyRing`] is stretched with HKDF-SHA256 into one key per purpose (the id
//! cookie, the signed-cookie session, the encrypted-cookie session, the hashed ids of
//! `SESSION_HASH_IDS`), so a MAC made for one use is worthless for another. The newest key
//! signs and seals; the fallbacks only verify and open, and a value they accept is reported as
//! `rotated` so the middleware re-signs it with the newest key.

mod keys;
mod sealed;
mod signed;
mod xaes;

pub use keys::{KeyError, KeyRing, SecretKey, MIN_SECRET_LEN};
#[cfg(test)]
pub(crate) use sealed::legacy_seal;
pub use sealed::{Opened, SealError, Sealer};
pub use signed::{SignatureError, Signer, Verified};

/// What a derived key is for; each purpose gets its own key from every secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// Signing the session id in the cookie of a server-side store.
    IdCookie,
    /// Signing a cookie that holds the whole session.
    SignedCookie,
    /// Encrypting a cookie that holds the whole session (XAES-256-GCM).
    EncryptedCookie,
    /// Opening a cookie that holds the whole session, encrypted with XChaCha20-Poly1305 by an
    /// earlier version of tessera.
    LegacyEncryptedCookie,
    /// Hashing session ids into the keys a server-side store keeps records under
    /// (`SESSION_HASH_IDS`).
    IdHash,
}

impl Purpose {
    fn info(self) -> &'static [u8] {
        match self {
            Self::IdCookie => b"tessera/v1/id-cookie/blake3",
            Self::SignedCookie => b"tessera/v1/signed-cookie/blake3",
            Self::EncryptedCookie => b"tessera/v1/encrypted-cookie/xaes-256-gcm",
            // Kept as it was, so that cookies sealed before XAES-256-GCM still open.
            Self::LegacyEncryptedCookie => b"tessera/v1/encrypted-cookie/xchacha20poly1305",
            Self::IdHash => b"tessera/v1/id-hash/blake3",
        }
    }
}
