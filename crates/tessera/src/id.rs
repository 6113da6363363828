//! Session ids: 256 bits from the operating system's CSPRNG, URL-safe, redacted in `Debug`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64_simd::AsOut as _;
use sha2::{Digest, Sha256};

/// How many random bytes a generated id carries (256 bits).
pub const ID_BYTES: usize = 32;

/// The longest id accepted from a cookie or a store.
pub const MAX_ID_LEN: usize = 128;

/// A session id.
///
/// Generated ids are 32 bytes from the operating system's CSPRNG, encoded as 43 characters of
/// unpadded URL-safe base64. Ids read back from cookies may come from other frameworks
/// (Django's 32-character keys, Flask-Session's tokens), so parsing accepts any 1 to 128
/// characters of `A-Z a-z 0-9 - _`: nothing that could steer a file path or a key pattern.
///
/// `Debug` and `Display` never show the id itself, only a short hash, so ids do not leak into
/// logs. Use [`SessionId::expose`] where the raw value is really needed (a store key, a cookie).
///
/// ```
/// use tessera::SessionId;
///
/// let id = SessionId::generate().unwrap();
/// assert_eq!(id.expose().len(), 43);
/// assert!(!format!("{id:?}").contains(id.expose()));
/// ```
///
/// Cloning one is a reference-count increment: a request holds its id in several places.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(Arc<str>);

/// The operating system's random number generator failed.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomError(#[from] getrandom::Error);

/// A string is not a valid session id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidId {
    /// The string is empty.
    #[error("a session id cannot be empty")]
    Empty,
    /// The string is longer than [`MAX_ID_LEN`].
    #[error("a session id is at most {MAX_ID_LEN} characters, got {0}")]
    TooLong(usize),
    /// The string holds a character outside `A-Z a-z 0-9 - _`.
    #[error("a session id holds only A-Z a-z 0-9 - _")]
    BadCharacter,
}

/// The bytes an id may hold (`A-Z a-z 0-9 - _`): one table lookup per byte, as every request
/// that loads its session parses its id.
static ID_CHARS: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

impl SessionId {
    /// A new random id: 256 bits from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, RandomError> {
        let mut bytes = [0u8; ID_BYTES];
        getrandom::fill(&mut bytes)?;
        // Encoded on the stack, then copied once into the id.
        let mut encoded = [0u8; 43];
        let text =
            base64_simd::URL_SAFE_NO_PAD.encode_as_str(&bytes, encoded.as_mut_slice().as_out());
        Ok(Self((&*text).into()))
    }

    /// An id made by a generator that only produces valid ids.
    pub(crate) fn from_trusted(id: String) -> Self {
        Self(id.into())
    }

    /// Parses an id read from a cookie or a store.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        if s.is_empty() {
            return Err(InvalidId::Empty);
        }
        if s.len() > MAX_ID_LEN {
            return Err(InvalidId::TooLong(s.len()));
        }
        if !s.bytes().all(|b| ID_CHARS[usize::from(b)]) {
            return Err(InvalidId::BadCharacter);
        }
        Ok(Self(s.into()))
    }

    /// The raw id. Treat it as a secret: it is a bearer credential.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short, stable, non-reversible tag for logs: the first 8 hex digits of SHA-256(id).
    pub fn log_tag(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        digest[..4].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId(#{})", self.log_tag())
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.log_tag())
    }
}

impl FromStr for SessionId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_ids_are_long_url_safe_and_distinct() {
        let ids: HashSet<String> = (0..1000)
            .map(|_| SessionId::generate().unwrap().expose().to_owned())
            .collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 43);
            assert!(SessionId::parse(id).is_ok());
        }
    }

    #[test]
    fn parse_refuses_path_and_key_tricks() {
        for bad in ["", "../etc", "a/b", "a b", "a*", "a\0b", "é"] {
            assert!(SessionId::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(
            SessionId::parse(&"a".repeat(129)),
            Err(InvalidId::TooLong(129))
        );
        assert!(SessionId::parse("abcdefghijklmnopqrstuvwxyz012345").is_ok());
        for b in 0..=255u8 {
            let allowed = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            assert_eq!(ID_CHARS[usize::from(b)], allowed, "byte {b}");
        }
    }

    #[test]
    fn debug_and_display_hide_the_id() {
        let id = SessionId::parse("supersecretsessionidvalue").unwrap();
        assert!(!format!("{id:?}").contains("supersecret"));
        assert!(!id.to_string().contains("supersecret"));
        assert_eq!(id.log_tag().len(), 8);
    }
}

/// What a "your sessions" page shows for a session instead of its id: a one-way hash of the
/// id (BLAKE3 in its key-derivation mode, 128 bits, URL-safe base64). It names a session to
/// revoke, but is not a credential: no cookie can be made from it.
///
/// ```
/// use tessera::id::SessionHandle;
/// use tessera::SessionId;
///
/// let id = SessionId::generate()?;
/// let handle = SessionHandle::of(&id);
/// assert_eq!(handle.as_str().len(), 22);
/// assert_ne!(handle.as_str(), id.expose());
/// assert_eq!(handle.as_str().parse::<SessionHandle>().unwrap(), handle);
/// # Ok::<(), tessera::id::RandomError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHandle(String);

impl SessionHandle {
    /// The handle of the session stored under `id`.
    pub fn of(id: &SessionId) -> Self {
        use base64::Engine as _;
        let mut hasher = blake3::Hasher::new_derive_key("tessera 2026-12 session handle");
        hasher.update(id.expose().as_bytes());
        let hash = hasher.finalize();
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&hash.as_bytes()[..16]))
    }

    /// The handle as text (22 URL-safe characters).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionHandle({})", self.0)
    }
}

impl fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Text that is not a [`SessionHandle`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a session handle: expected 22 URL-safe base64 characters")]
pub struct InvalidHandle;

impl std::str::FromStr for SessionHandle {
    type Err = InvalidHandle;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.len() == 22
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(s.to_owned())).ok_or(InvalidHandle)
    }
}

impl serde::Serialize for SessionHandle {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SessionHandle {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
