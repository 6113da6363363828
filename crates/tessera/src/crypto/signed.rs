use std::fmt;

use base64_simd::{AsOut as _, URL_SAFE_NO_PAD};

use super::{KeyRing, Purpose};

/// Length of the base64 MAC appended to a signed value.
const MAC_B64_LEN: usize = 43;

/// Signs values with keyed BLAKE3 and verifies them against every key of a [`KeyRing`].
///
/// A signed value is `value.mac`, where `mac` is the unpadded URL-safe base64 of BLAKE3 in
/// keyed mode (its MAC mode, a 256-bit tag) over the cookie name, a zero byte and the value:
/// the same value signed for another cookie name does not verify. Each key of the ring is first
/// stretched by HKDF-SHA256 into a 256-bit key for this [`Purpose`]. Verification is
/// constant-time.
///
/// BLAKE3 rather than HMAC-SHA256: HMAC runs SHA-256's compression twice even for a session id
/// (inner and outer hash); keyed BLAKE3 hashes a short value in one compression, with SIMD on
/// every x86-64 and ARM server, and does not depend on the SHA extensions many server CPUs
/// lack. The format is tessera's own; the Python profiles keep their frameworks' signatures.
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
    keys: Vec<[u8; 32]>,
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
        Self {
            keys: ring.derive(purpose),
        }
    }

    fn mac(&self, index: usize, name: &str, value: &str) -> blake3::Hash {
        let key = &self.keys[index];
        let len = name.len() + 1 + value.len();
        // A session id with its cookie name fits one BLAKE3 block: hashed from the stack in one
        // call, without setting up an incremental hasher.
        let mut short = [0u8; 64];
        if len <= short.len() {
            short[..name.len()].copy_from_slice(name.as_bytes());
            short[name.len() + 1..len].copy_from_slice(value.as_bytes());
            return blake3::keyed_hash(key, &short[..len]);
        }
        blake3::Hasher::new_keyed(key)
            .update(name.as_bytes())
            .update(&[0])
            .update(value.as_bytes())
            .finalize()
    }

    /// `value.mac`, signed with the current key.
    pub fn sign(&self, name: &str, value: &str) -> String {
        let tag = self.mac(0, name, value);
        let mut out = String::with_capacity(value.len() + 1 + MAC_B64_LEN);
        out.push_str(value);
        out.push('.');
        URL_SAFE_NO_PAD.encode_append(tag.as_bytes(), &mut out);
        out
    }

    /// Checks `signed` against every key, current first.
    pub fn verify<'a>(&self, name: &str, signed: &'a str) -> Result<Verified<'a>, SignatureError> {
        let (value, tag) = signed.rsplit_once('.').ok_or(SignatureError::Unsigned)?;
        if tag.len() != MAC_B64_LEN {
            return Err(SignatureError::Mismatch);
        }
        // Decoded on the stack: this runs on every request that loads a signed-id session.
        let mut buf = [0u8; 33];
        let tag: [u8; 32] = URL_SAFE_NO_PAD
            .decode(tag.as_bytes(), buf.as_mut_slice().as_out())
            .ok()
            .and_then(|decoded| <[u8; 32]>::try_from(&*decoded).ok())
            .ok_or(SignatureError::Mismatch)?;
        let tag = blake3::Hash::from_bytes(tag);
        for index in 0..self.keys.len() {
            // `blake3::Hash`'s equality is constant-time.
            if self.mac(index, name, value) == tag {
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
            .field("keys", &self.keys.len())
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
    fn the_tag_is_keyed_blake3_over_name_zero_value() {
        let ring = ring('a');
        let key = ring.derive(Purpose::IdCookie)[0];
        let signer = Signer::new(&ring, Purpose::IdCookie);
        // One block (hashed from the stack) and longer values (hashed incrementally).
        for value in [
            "abc".to_owned(),
            "v".repeat(56),
            "v".repeat(57),
            "v".repeat(3000),
        ] {
            let tag = blake3::keyed_hash(&key, format!("session\0{value}").as_bytes());
            let b64 = base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                tag.as_bytes(),
            );
            let expected = format!("{value}.{b64}");
            assert_eq!(signer.sign("session", &value), expected);
            assert_eq!(signer.verify("session", &expected).unwrap().value, value);
        }
    }

    #[test]
    fn a_tag_with_stray_trailing_bits_is_refused() {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let s = Signer::new(&ring('a'), Purpose::IdCookie);
        let signed = s.sign("session", "value");
        let last = *signed.as_bytes().last().unwrap();
        let index = ALPHABET.iter().position(|&c| c == last).unwrap();
        // 43 characters carry 258 bits for 256: the last character's two low bits are zero.
        assert_eq!(index & 3, 0);
        for stray in 1..4 {
            let mut bytes = signed.clone().into_bytes();
            *bytes.last_mut().unwrap() = ALPHABET[index | stray];
            let forged = String::from_utf8(bytes).unwrap();
            assert_eq!(s.verify("session", &forged), Err(SignatureError::Mismatch));
        }
        assert!(s
            .verify("session", &format!("{}=", &signed[..signed.len() - 1]))
            .is_err());
    }

    #[test]
    fn purposes_do_not_cross() {
        let id = Signer::new(&ring('a'), Purpose::IdCookie);
        let data = Signer::new(&ring('a'), Purpose::SignedCookie);
        assert!(data.verify("session", &id.sign("session", "v")).is_err());
    }
}
