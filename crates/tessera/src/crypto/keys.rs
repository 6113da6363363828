use std::fmt;

use hkdf::Hkdf;
use sha2::Sha256;

use super::Purpose;

/// The shortest secret key accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// A secret key as configured (`SECRET_KEY`); `Debug` never prints it.
#[derive(Clone)]
pub struct SecretKey(Box<[u8]>);

impl SecretKey {
    /// A key from at least [`MIN_SECRET_LEN`] bytes.
    ///
    /// ```
    /// use tessera::crypto::SecretKey;
    ///
    /// assert!(SecretKey::new("too short").is_err());
    /// assert!(SecretKey::new("a".repeat(32)).is_ok());
    /// ```
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_SECRET_LEN {
            return Err(KeyError::TooShort { len: secret.len() });
        }
        Ok(Self(secret.into()))
    }

    /// A key of 64 random bytes from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes).map_err(KeyError::Random)?;
        Ok(Self(bytes.into()))
    }

    /// The secret's bytes, as Flask and Django feed them to their own key derivations.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn derive(&self, purpose: Purpose) -> [u8; 32] {
        let mut out = [0u8; 32];
        // HKDF-SHA256 can emit up to 255 * 32 bytes; 32 always fits.
        Hkdf::<Sha256>::new(Some(b"tessera"), &self.0)
            .expand(purpose.info(), &mut out)
            .unwrap_or_default();
        out
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<{} bytes redacted>)", self.0.len())
    }
}

/// A secret key was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is shorter than [`MIN_SECRET_LEN`].
    #[error("a secret key must be at least {MIN_SECRET_LEN} bytes long, this one has {len}; generate one with `openssl rand -base64 48`")]
    TooShort {
        /// The refused key's length.
        len: usize,
    },
    /// The OS random number generator failed while generating a key.
    #[error("the operating system's random number generator failed: {0}")]
    Random(getrandom::Error),
}

/// The current secret key and older ones still accepted (Flask's and Django's
/// `SECRET_KEY_FALLBACKS`).
///
/// ```
/// use tessera::crypto::{KeyRing, SecretKey};
///
/// let ring = KeyRing::new(SecretKey::new("n".repeat(32)).unwrap())
///     .with_fallback(SecretKey::new("o".repeat(32)).unwrap());
/// assert_eq!(ring.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<SecretKey>,
}

impl KeyRing {
    /// A ring whose current key is `current`.
    pub fn new(current: SecretKey) -> Self {
        Self {
            keys: vec![current],
        }
    }

    /// Adds an older key that still verifies (tried in the order added).
    #[must_use]
    pub fn with_fallback(mut self, key: SecretKey) -> Self {
        self.keys.push(key);
        self
    }

    /// The key that signs and seals.
    pub fn current(&self) -> &SecretKey {
        &self.keys[0]
    }

    /// All keys, current first.
    pub fn keys(&self) -> &[SecretKey] {
        &self.keys
    }

    /// How many keys the ring holds (at least one).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a ring holds at least its current key.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub(crate) fn derive(&self, purpose: Purpose) -> Vec<[u8; 32]> {
        self.keys.iter().map(|k| k.derive(purpose)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_get_distinct_keys_and_debug_redacts() {
        let key = SecretKey::new("s".repeat(40)).unwrap();
        assert_ne!(
            key.derive(Purpose::IdCookie),
            key.derive(Purpose::SignedCookie)
        );
        assert_eq!(key.derive(Purpose::IdCookie), key.derive(Purpose::IdCookie));
        assert!(!format!("{key:?}").contains("sss"));
    }

    #[test]
    fn short_keys_are_refused() {
        let err = SecretKey::new([0u8; 31]).unwrap_err();
        assert!(err.to_string().contains("at least 32 bytes"));
    }
}
