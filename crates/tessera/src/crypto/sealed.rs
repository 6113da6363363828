use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::{KeyRing, Purpose};

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Encrypts values with XChaCha20-Poly1305 and opens them with every key of a [`KeyRing`].
///
/// A sealed value is the unpadded URL-safe base64 of a random 192-bit nonce followed by the
/// ciphertext and tag. The cookie name is the associated data, so a sealed value moved to
/// another cookie does not open. Random nonces are safe at this nonce size.
///
/// ```
/// use tessera::crypto::{KeyRing, Purpose, SecretKey, Sealer};
///
/// let sealer = Sealer::new(&KeyRing::new(SecretKey::new("k".repeat(32)).unwrap()));
/// let sealed = sealer.seal("session", b"secret").unwrap();
/// assert_eq!(sealer.open("session", &sealed).unwrap().plaintext, b"secret");
/// assert!(sealer.open("other", &sealed).is_err());
/// ```
#[derive(Clone)]
pub struct Sealer {
    ciphers: Vec<XChaCha20Poly1305>,
}

/// A value that opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// True when a fallback key opened it: re-seal it with the current key.
    pub rotated: bool,
}

/// Sealing or opening failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The value is not base64 or too short to hold a nonce and a tag.
    #[error("the sealed value is malformed")]
    Malformed,
    /// No key of the ring opens it: tampered, truncated, or sealed with an unknown key.
    #[error("the sealed value does not open with any key")]
    Mismatch,
    /// The OS random number generator failed while making a nonce.
    #[error("the operating system's random number generator failed: {0}")]
    Random(getrandom::Error),
}

impl Sealer {
    /// A sealer with one key per key of `ring`.
    pub fn new(ring: &KeyRing) -> Self {
        let ciphers = ring
            .derive(Purpose::EncryptedCookie)
            .iter()
            .map(|k| XChaCha20Poly1305::new(k.into()))
            .collect();
        Self { ciphers }
    }

    /// Encrypts `plaintext` with the current key, bound to the cookie `name`.
    pub fn seal(&self, name: &str, plaintext: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(SealError::Random)?;
        let ciphertext = self.ciphers[0]
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: name.as_bytes(),
                },
            )
            // Encryption fails only for inputs beyond 256 GiB.
            .map_err(|_| SealError::Malformed)?;
        let mut raw = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&ciphertext);
        Ok(URL_SAFE_NO_PAD.encode(raw))
    }

    /// Decrypts `sealed`, trying every key, current first.
    pub fn open(&self, name: &str, sealed: &str) -> Result<Opened, SealError> {
        let raw = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| SealError::Malformed)?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        for (index, cipher) in self.ciphers.iter().enumerate() {
            let payload = Payload {
                msg: ciphertext,
                aad: name.as_bytes(),
            };
            if let Ok(plaintext) = cipher.decrypt(XNonce::from_slice(nonce), payload) {
                return Ok(Opened {
                    plaintext,
                    rotated: index > 0,
                });
            }
        }
        Err(SealError::Mismatch)
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("keys", &self.ciphers.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    fn ring(c: char) -> KeyRing {
        KeyRing::new(SecretKey::new(c.to_string().repeat(32)).unwrap())
    }

    #[test]
    fn seal_is_randomised_and_tamper_evident() {
        let s = Sealer::new(&ring('a'));
        let one = s.seal("session", b"data").unwrap();
        let two = s.seal("session", b"data").unwrap();
        assert_ne!(one, two);
        let mut raw = URL_SAFE_NO_PAD.decode(&one).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(matches!(
            s.open("session", &URL_SAFE_NO_PAD.encode(raw)),
            Err(SealError::Mismatch)
        ));
        assert!(matches!(
            s.open("session", "AAAA"),
            Err(SealError::Malformed)
        ));
        assert!(matches!(s.open("session", "!!"), Err(SealError::Malformed)));
    }

    #[test]
    fn fallback_keys_open_and_report_rotation() {
        let old = Sealer::new(&ring('o'));
        let new = Sealer::new(&ring('n').with_fallback(SecretKey::new("o".repeat(32)).unwrap()));
        let opened = new
            .open("session", &old.seal("session", b"x").unwrap())
            .unwrap();
        assert!(opened.rotated);
        assert_eq!(opened.plaintext, b"x");
        assert!(old
            .open("session", &new.seal("session", b"x").unwrap())
            .is_err());
    }
}
