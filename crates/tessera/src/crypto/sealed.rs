use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::xaes::{self, Xaes256Gcm};
use super::{KeyRing, Purpose};

/// The first byte of a value sealed with XAES-256-GCM.
const VERSION: u8 = 0x01;
/// The version byte and the nonce.
const HEADER_LEN: usize = 1 + xaes::NONCE_LEN;
/// The nonce of the XChaCha20-Poly1305 format tessera sealed before.
const LEGACY_NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Encrypts values with XAES-256-GCM and opens them with every key of a [`KeyRing`].
///
/// A sealed value is the unpadded URL-safe base64 of a version byte (`0x01`), a random 192-bit
/// nonce, the ciphertext and the tag. The associated data is the version byte followed by the
/// cookie name, so a sealed value moved to another cookie does not open. Random nonces are
/// safe at this nonce size, and AES runs on the CPU's AES instructions where it has them.
///
/// Values sealed by earlier versions of tessera (XChaCha20-Poly1305: the nonce, ciphertext and
/// tag with no version byte) still open, reported as [`Opened::legacy`] and
/// [`Opened::rotated`], so the middleware sends them again in the current format.
///
/// ```
/// use tessera::crypto::{KeyRing, SecretKey, Sealer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sealer = Sealer::new(&KeyRing::new(SecretKey::new("k".repeat(32))?));
/// let sealed = sealer.seal("session", b"secret")?;
/// let opened = sealer.open("session", &sealed)?;
/// assert_eq!(opened.plaintext, b"secret");
/// assert!(!opened.rotated);
/// assert!(sealer.open("other", &sealed).is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Sealer {
    /// One per key of the ring, current first.
    keys: Vec<RingKey>,
}

#[derive(Clone)]
struct RingKey {
    /// Seals and opens the current format; its AES key schedule and CMAC subkey are computed
    /// once here, so a seal costs two AES blocks for the message key, then AES-256-GCM.
    xaes: Xaes256Gcm,
    /// Opens values sealed before XAES-256-GCM, under that format's own derived key.
    legacy: XChaCha20Poly1305,
}

/// A value that opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// True when the value should be sealed again with [`Sealer::seal`]: a fallback key opened
    /// it, or it is in the legacy format ([`Opened::legacy`]).
    pub rotated: bool,
    /// True when the value is in the XChaCha20-Poly1305 format earlier versions of tessera
    /// sealed (`rotated` is then true as well).
    pub legacy: bool,
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
        let keys = ring
            .derive(Purpose::EncryptedCookie)
            .iter()
            .zip(ring.derive(Purpose::LegacyEncryptedCookie))
            .map(|(current, legacy)| RingKey {
                xaes: Xaes256Gcm::new(current),
                legacy: XChaCha20Poly1305::new(&legacy.into()),
            })
            .collect();
        Self { keys }
    }

    /// Encrypts `plaintext` with the current key, bound to the cookie `name`.
    pub fn seal(&self, name: &str, plaintext: &[u8]) -> Result<String, SealError> {
        self.seal_parts(name, &[plaintext])
    }

    /// Encrypts the concatenation of `parts` with the current key, bound to the cookie `name`:
    /// the same value as [`seal`](Self::seal) of the joined bytes, without the caller joining
    /// them first.
    ///
    /// ```
    /// use tessera::crypto::{KeyRing, SecretKey, Sealer};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sealer = Sealer::new(&KeyRing::new(SecretKey::new("k".repeat(32))?));
    /// let sealed = sealer.seal_parts("session", &[b"flag ", b"and payload"])?;
    /// assert_eq!(sealer.open("session", &sealed)?.plaintext, b"flag and payload");
    /// # Ok(())
    /// # }
    /// ```
    pub fn seal_parts(&self, name: &str, parts: &[&[u8]]) -> Result<String, SealError> {
        let mut nonce = [0u8; xaes::NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(SealError::Random)?;
        let len: usize = parts.iter().map(|part| part.len()).sum();
        let mut raw = Vec::with_capacity(HEADER_LEN + len + TAG_LEN);
        raw.push(VERSION);
        raw.extend_from_slice(&nonce);
        for part in parts {
            raw.extend_from_slice(part);
        }
        let tag = with_associated_data(name, |aad| {
            self.keys[0]
                .xaes
                .encrypt_in_place_detached(&nonce, aad, &mut raw[HEADER_LEN..])
        })
        // Encryption fails only for inputs beyond 64 GiB.
        .map_err(|_| SealError::Malformed)?;
        raw.extend_from_slice(&tag);
        Ok(base64_simd::URL_SAFE_NO_PAD.encode_to_string(raw))
    }

    /// Decrypts `sealed`, trying every key, current first, in the current format and then in
    /// the legacy one.
    pub fn open(&self, name: &str, sealed: &str) -> Result<Opened, SealError> {
        let raw = base64_simd::URL_SAFE_NO_PAD
            .decode_to_vec(sealed)
            .map_err(|_| SealError::Malformed)?;
        if raw.len() < LEGACY_NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed);
        }
        if let Some((&VERSION, rest)) = raw.split_first() {
            if let Some((nonce, ciphertext)) = rest.split_first_chunk::<{ xaes::NONCE_LEN }>() {
                let opened = with_associated_data(name, |aad| {
                    self.keys.iter().enumerate().find_map(|(index, key)| {
                        key.xaes
                            .decrypt(nonce, aad, ciphertext)
                            .ok()
                            .map(|plaintext| Opened {
                                plaintext,
                                rotated: index > 0,
                                legacy: false,
                            })
                    })
                });
                if let Some(opened) = opened {
                    return Ok(opened);
                }
            }
        }
        // An older value starts with its random nonce, so 1 in 256 of them starts with the
        // version byte too: the legacy format is tried whatever the first byte.
        let (nonce, ciphertext) = raw.split_at(LEGACY_NONCE_LEN);
        for key in &self.keys {
            let payload = Payload {
                msg: ciphertext,
                aad: name.as_bytes(),
            };
            if let Ok(plaintext) = key.legacy.decrypt(XNonce::from_slice(nonce), payload) {
                return Ok(Opened {
                    plaintext,
                    rotated: true,
                    legacy: true,
                });
            }
        }
        Err(SealError::Mismatch)
    }
}

/// Runs `f` on the associated data for the cookie `name`: the version byte, then the name. Built
/// on the stack for names of up to 63 bytes (every real cookie name), as it is on every seal and
/// open.
fn with_associated_data<R>(name: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    let name = name.as_bytes();
    let mut buf = [0u8; 64];
    match buf.get_mut(1..=name.len()) {
        Some(rest) => {
            rest.copy_from_slice(name);
            buf[0] = VERSION;
            f(&buf[..=name.len()])
        }
        None => f(&[&[VERSION], name].concat()),
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// Test support: values in the format tessera sealed before XAES-256-GCM.
#[cfg(test)]
mod legacy_format {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    /// What `Sealer::seal` made before XAES-256-GCM, spelled out independently of this module:
    /// the key from HKDF-SHA256 (salt `tessera`, the old info string), then the nonce,
    /// ciphertext and tag of XChaCha20-Poly1305 with the cookie name as associated data.
    pub(crate) fn legacy_seal_with_nonce(
        key: &crate::crypto::SecretKey,
        name: &str,
        msg: &[u8],
        nonce: [u8; 24],
    ) -> String {
        let mut derived = [0u8; 32];
        hkdf::Hkdf::<sha2::Sha256>::new(Some(b"tessera"), key.expose())
            .expand(
                b"tessera/v1/encrypted-cookie/xchacha20poly1305",
                &mut derived,
            )
            .unwrap();
        let ciphertext = XChaCha20Poly1305::new(&derived.into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg,
                    aad: name.as_bytes(),
                },
            )
            .unwrap();
        URL_SAFE_NO_PAD.encode([&nonce[..], &ciphertext].concat())
    }

    pub(crate) fn legacy_seal(key: &crate::crypto::SecretKey, name: &str, msg: &[u8]) -> String {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).unwrap();
        legacy_seal_with_nonce(key, name, msg, nonce)
    }
}

#[cfg(test)]
pub(crate) use legacy_format::{legacy_seal, legacy_seal_with_nonce};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    /// The SIMD codec the sealer uses writes and reads exactly the unpadded URL-safe base64 of
    /// the `base64` crate (what earlier releases and the rest of tessera use), at every length
    /// around its vector widths, and refuses what that crate refuses.
    #[test]
    fn sealed_base64_matches_the_base64_crate() {
        let simd = base64_simd::URL_SAFE_NO_PAD;
        for len in 0..=300 {
            let mut bytes = vec![0u8; len];
            getrandom::fill(&mut bytes).unwrap();
            let text = simd.encode_to_string(&bytes);
            assert_eq!(text, URL_SAFE_NO_PAD.encode(&bytes), "length {len}");
            assert_eq!(simd.decode_to_vec(&text).unwrap(), bytes, "length {len}");
        }
        for bad in [
            "AB",
            "AAB",
            "AAA=",
            "AA==",
            "A",
            "AB+/",
            "AB\n",
            "ABC ",
            "ABC\u{e9}",
            "AB=A",
        ] {
            assert!(URL_SAFE_NO_PAD.decode(bad).is_err(), "{bad:?}");
            assert!(simd.decode_to_vec(bad).is_err(), "{bad:?}");
        }
    }

    fn secret(c: char) -> SecretKey {
        SecretKey::new(c.to_string().repeat(32)).unwrap()
    }

    fn ring(c: char) -> KeyRing {
        KeyRing::new(secret(c))
    }

    fn flipped(value: &str, index: usize) -> String {
        let mut raw = URL_SAFE_NO_PAD.decode(value).unwrap();
        raw[index] ^= 1;
        URL_SAFE_NO_PAD.encode(raw)
    }

    #[test]
    fn seals_in_the_versioned_xaes_format_and_round_trips() {
        let s = Sealer::new(&ring('a'));
        for plaintext in [&b""[..], b"data", &[7u8; 1000]] {
            let sealed = s.seal("session", plaintext).unwrap();
            let raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
            assert_eq!(raw[0], VERSION);
            assert_eq!(raw.len(), HEADER_LEN + plaintext.len() + TAG_LEN);
            assert_eq!(
                s.open("session", &sealed).unwrap(),
                Opened {
                    plaintext: plaintext.to_vec(),
                    rotated: false,
                    legacy: false
                }
            );
        }
    }

    #[test]
    fn seal_is_randomised_and_tamper_evident() {
        let s = Sealer::new(&ring('a'));
        let one = s.seal("session", b"data").unwrap();
        let two = s.seal("session", b"data").unwrap();
        assert_ne!(one, two);
        let len = URL_SAFE_NO_PAD.decode(&one).unwrap().len();
        // The version byte, the nonce's first and last bytes, the ciphertext, the tag.
        for index in [
            0,
            1,
            12,
            13,
            HEADER_LEN - 1,
            HEADER_LEN,
            len - TAG_LEN,
            len - 1,
        ] {
            assert!(
                matches!(
                    s.open("session", &flipped(&one, index)),
                    Err(SealError::Mismatch)
                ),
                "byte {index}"
            );
        }
        assert!(matches!(
            s.open("session", "AAAA"),
            Err(SealError::Malformed)
        ));
        assert!(matches!(s.open("session", "!!"), Err(SealError::Malformed)));
        let short = URL_SAFE_NO_PAD.encode([VERSION; HEADER_LEN + TAG_LEN - 2]);
        assert!(matches!(
            s.open("session", &short),
            Err(SealError::Malformed)
        ));
    }

    #[test]
    fn values_are_bound_to_the_cookie_name() {
        let s = Sealer::new(&ring('a'));
        let sealed = s.seal("session", b"data").unwrap();
        assert!(matches!(s.open("other", &sealed), Err(SealError::Mismatch)));
        assert!(matches!(s.open("", &sealed), Err(SealError::Mismatch)));
        let legacy = legacy_seal(&secret('a'), "session", b"data");
        assert!(matches!(s.open("other", &legacy), Err(SealError::Mismatch)));
        // Names that fit the stack buffer for the associated data, and longer ones.
        for len in [62, 63, 64, 200] {
            let name = "n".repeat(len);
            let sealed = s.seal_parts(&name, &[b"da", b"", b"ta"]).unwrap();
            assert_eq!(s.open(&name, &sealed).unwrap().plaintext, b"data");
            for other in [&name[1..], &format!("{name}n")] {
                assert!(
                    matches!(s.open(other, &sealed), Err(SealError::Mismatch)),
                    "{len}"
                );
            }
        }
    }

    #[test]
    fn legacy_values_open_and_ask_to_be_sealed_again() {
        let s = Sealer::new(&ring('a'));
        let legacy = legacy_seal(&secret('a'), "session", b"from before");
        assert_eq!(
            s.open("session", &legacy).unwrap(),
            Opened {
                plaintext: b"from before".to_vec(),
                rotated: true,
                legacy: true
            }
        );
        let len = URL_SAFE_NO_PAD.decode(&legacy).unwrap().len();
        for index in [0, 23, 24, len - 1] {
            assert!(matches!(
                s.open("session", &flipped(&legacy, index)),
                Err(SealError::Mismatch)
            ));
        }
        // A 40-byte value: the legacy format's empty plaintext, one byte short of the new one.
        let empty = legacy_seal(&secret('a'), "session", b"");
        assert!(s.open("session", &empty).unwrap().plaintext.is_empty());
    }

    #[test]
    fn a_value_sealed_by_the_previous_sealer_opens() {
        // Made by `Sealer::seal` before XAES-256-GCM: key "a" * 32, cookie "session".
        let golden = "UCC-_TCenE_YBVhoa9iSUMPOEf2OqYknywDZwHWHamCiS_bOr5P_aXRlCccl3uu6PW9d";
        let opened = Sealer::new(&ring('a')).open("session", golden).unwrap();
        assert_eq!(opened.plaintext, b"from before");
        assert!(opened.legacy && opened.rotated);
    }

    #[test]
    fn legacy_values_whose_nonce_starts_with_the_version_byte_still_open() {
        let s = Sealer::new(&ring('a'));
        let mut nonce = [0u8; 24];
        while nonce[0] != VERSION {
            getrandom::fill(&mut nonce).unwrap();
        }
        let legacy = legacy_seal_with_nonce(&secret('a'), "session", b"lucky", nonce);
        assert_eq!(URL_SAFE_NO_PAD.decode(&legacy).unwrap()[0], VERSION);
        let opened = s.open("session", &legacy).unwrap();
        assert_eq!(opened.plaintext, b"lucky");
        assert!(opened.legacy && opened.rotated);
    }

    #[test]
    fn fallback_keys_open_both_formats_and_report_rotation() {
        let old = Sealer::new(&ring('o'));
        let new = Sealer::new(&ring('n').with_fallback(secret('o')));
        let current = new
            .open("session", &old.seal("session", b"x").unwrap())
            .unwrap();
        assert_eq!(
            current,
            Opened {
                plaintext: b"x".to_vec(),
                rotated: true,
                legacy: false
            }
        );
        for key in ['n', 'o'] {
            let legacy = new
                .open("session", &legacy_seal(&secret(key), "session", b"y"))
                .unwrap();
            assert_eq!(legacy.plaintext, b"y");
            assert!(legacy.rotated && legacy.legacy, "key {key}");
        }
        assert!(old
            .open("session", &new.seal("session", b"x").unwrap())
            .is_err());
        assert!(old
            .open("session", &legacy_seal(&secret('n'), "session", b"x"))
            .is_err());
    }

    #[test]
    fn the_two_formats_use_distinct_keys_and_debug_shows_none() {
        let ring = ring('a');
        assert_ne!(
            ring.derive(Purpose::EncryptedCookie),
            ring.derive(Purpose::LegacyEncryptedCookie)
        );
        let s = Sealer::new(&ring.with_fallback(secret('b')));
        assert_eq!(format!("{s:?}"), "Sealer { keys: 2, .. }");
    }
}
