use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{KeyRing, Purpose};

type HmacSha256 = Hmac<Sha256>;

/// Length of the base64 MAC appended to a signed value.
const MAC_B64_LEN: usize = 43;

/// Signs values with HMAC-SHA256 and verifies them against every key of a [`KeyRing`].
///
/// A signed value is `value.mac`, where `mac` is the unpadded URL-safe base64 HMAC of the
/// cookie name, a zero byte and the value: the same value signed for another cookie name
/// does not verify. Verification is constant-time.
///
/// ```
/// use tessera::crypto::{KeyRing, Purpose, SecretKey, Signer};
///
/// let signer = Signer::new(&KeyRing::new(SecretKey::new("k".repeat(32)).unwrap()), Purpose::IdCookie);
/// let signed = signer.sign("session", "abc");
/// assert_eq!(signer.verify("session", &signed).unwrap().value, "abc");
/// assert!(signer.verify("other", &signed).is_err());
/// ```
#[derive(Clone)]
pub struct Signer {
    macs: Vec<HmacSha256>,
}

/// A value whose signature verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified<'a> {
    /// The value, without its signature.
    pub value: &'a str,
    /// True when a fallback key verified it: re-sign it with the current key.
    pub rotated: bool,
}

/// A signed value did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The value has no signature part.
    #[error("the value is not signed")]
    Unsigned,
    /// No key of the ring produced this signature.
    #[error("the signature does not match any key")]
    Mismatch,
}

impl Signer {
    /// A signer with one key per key of `ring`, derived for `purpose`.
    pub fn new(ring: &KeyRing, purpose: Purpose) -> Self {
        let macs = ring
            .derive(purpose)
            .iter()
            // HMAC accepts keys of any length.
            .filter_map(|k| HmacSha256::new_from_slice(k).ok())
            .collect();
        Self { macs }
    }

    fn mac(&self, index: usize, name: &str, value: &str) -> HmacSha256 {
        let mut mac = self.macs[index].clone();
        mac.update(name.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac
    }

    /// `value.mac`, signed with the current key.
    pub fn sign(&self, name: &str, value: &str) -> String {
        let tag = self.mac(0, name, value).finalize().into_bytes();
        let mut out = String::with_capacity(value.len() + 1 + MAC_B64_LEN);
        out.push_str(value);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut out);
        out
    }

    /// Checks `signed` against every key, current first.
    pub fn verify<'a>(&self, name: &str, signed: &'a str) -> Result<Verified<'a>, SignatureError> {
        let (value, tag) = signed.rsplit_once('.').ok_or(SignatureError::Unsigned)?;
        if tag.len() != MAC_B64_LEN {
            return Err(SignatureError::Mismatch);
        }
        // Decoded on the stack: this runs on every request that loads a signed-id session.
        let mut buf = [0u8; 36];
        let len = URL_SAFE_NO_PAD
            .decode_slice(tag, &mut buf)
            .map_err(|_| SignatureError::Mismatch)?;
        let tag = &buf[..len];
        for index in 0..self.macs.len() {
            if self.mac(index, name, value).verify_slice(tag).is_ok() {
                return Ok(Verified {
                    value,
                    rotated: index > 0,
                });
            }
        }
        Err(SignatureError::Mismatch)
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("keys", &self.macs.len())
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
    fn tampering_is_detected() {
        let s = Signer::new(&ring('a'), Purpose::IdCookie);
        let signed = s.sign("session", "value");
        assert!(s.verify("session", &signed).is_ok());
        let mut bytes = signed.clone().into_bytes();
        bytes[0] ^= 1;
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(
            s.verify("session", &tampered),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            s.verify("session", &signed[..signed.len() - 1]),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(s.verify("session", "value"), Err(SignatureError::Unsigned));
    }

    #[test]
    fn fallback_keys_verify_and_report_rotation() {
        let old = Signer::new(&ring('o'), Purpose::IdCookie);
        let rotated = Signer::new(
            &ring('n').with_fallback(SecretKey::new("o".repeat(32)).unwrap()),
            Purpose::IdCookie,
        );
        let signed = old.sign("session", "v");
        assert_eq!(
            rotated.verify("session", &signed),
            Ok(Verified {
                value: "v",
                rotated: true
            })
        );
        let fresh = rotated.sign("session", "v");
        assert!(!rotated.verify("session", &fresh).unwrap().rotated);
        assert!(old.verify("session", &fresh).is_err());
    }

    #[test]
    fn purposes_do_not_cross() {
        let id = Signer::new(&ring('a'), Purpose::IdCookie);
        let data = Signer::new(&ring('a'), Purpose::SignedCookie);
        assert!(data.verify("session", &id.sign("session", "v")).is_err());
    }
}
