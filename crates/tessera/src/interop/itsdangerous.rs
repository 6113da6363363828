//! itsdangerous 2.x, as Flask and Flask-Session use it: HMAC-SHA1 with the `hmac` key
//! derivation, `.`-separated signatures, big-endian timestamps, zlib-compressed URL-safe
//! payloads marked by a leading `.`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::compress::{zlib_compress, zlib_decompress, InflateError, MAX_INFLATED};
use crate::crypto::{KeyRing, SignatureError};

type HmacSha1 = Hmac<Sha1>;

/// An itsdangerous `Signer` (`key_derivation="hmac"`, `digest_method=sha1`, `sep="."`).
///
/// ```
/// use tessera::crypto::{KeyRing, SecretKey};
/// use tessera::interop::itsdangerous::ItsSigner;
///
/// let keys = KeyRing::new(SecretKey::new("k".repeat(32)).unwrap());
/// let signer = ItsSigner::new(&keys, b"flask-session");
/// let signed = signer.sign("abc");
/// assert_eq!(signer.unsign(&signed).unwrap().0, "abc");
/// ```
#[derive(Clone)]
pub struct ItsSigner {
    /// One keyed MAC per secret, current first.
    macs: Vec<HmacSha1>,
}

impl std::fmt::Debug for ItsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItsSigner")
            .field("keys", &self.macs.len())
            .finish_non_exhaustive()
    }
}

impl ItsSigner {
    /// A signer for `salt` over every key of `keys`.
    pub fn new(keys: &KeyRing, salt: &[u8]) -> Self {
        let macs = keys
            .keys()
            .iter()
            .filter_map(|secret| {
                // derive_key: HMAC(secret, salt); HMAC takes keys of any length.
                let mut derive = HmacSha1::new_from_slice(secret.expose()).ok()?;
                derive.update(salt);
                HmacSha1::new_from_slice(&derive.finalize().into_bytes()).ok()
            })
            .collect();
        Self { macs }
    }

    fn signature(&self, index: usize, value: &str) -> HmacSha1 {
        let mut mac = self.macs[index].clone();
        mac.update(value.as_bytes());
        mac
    }

    /// `value.signature`, with the current key.
    pub fn sign(&self, value: &str) -> String {
        let tag = self.signature(0, value).finalize().into_bytes();
        format!("{value}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The value and whether a fallback key verified it.
    pub fn unsign<'a>(&self, signed: &'a str) -> Result<(&'a str, bool), SignatureError> {
        let (value, sig) = signed.rsplit_once('.').ok_or(SignatureError::Unsigned)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| SignatureError::Mismatch)?;
        (0..self.macs.len())
            .find(|&i| self.signature(i, value).verify_slice(&sig).is_ok())
            .map(|i| (value, i > 0))
            .ok_or(SignatureError::Mismatch)
    }

    /// itsdangerous' `TimestampSigner.sign` at `timestamp` (Unix seconds).
    pub fn sign_timestamped(&self, value: &str, timestamp: i64) -> String {
        let bytes = timestamp.to_be_bytes();
        let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        self.sign(&format!(
            "{value}.{}",
            URL_SAFE_NO_PAD.encode(&bytes[first..])
        ))
    }

    /// `TimestampSigner.unsign`: the value, its timestamp and whether a fallback key verified.
    pub fn unsign_timestamped<'a>(
        &self,
        signed: &'a str,
    ) -> Result<(&'a str, i64, bool), SignatureError> {
        let (value, rotated) = self.unsign(signed)?;
        let (value, ts) = value.rsplit_once('.').ok_or(SignatureError::Mismatch)?;
        let ts = URL_SAFE_NO_PAD
            .decode(ts)
            .ok()
            .filter(|b| b.len() <= 8)
            .ok_or(SignatureError::Mismatch)?;
        let mut be = [0u8; 8];
        be[8 - ts.len()..].copy_from_slice(&ts);
        Ok((value, i64::from_be_bytes(be), rotated))
    }
}

/// `URLSafeSerializerMixin.dump_payload`: zlib-compress when that saves more than one byte,
/// base64 without padding, `.` in front of compressed payloads.
pub fn dump_payload(json: &[u8]) -> String {
    let compressed = zlib_compress(json);
    if compressed.len() + 1 < json.len() {
        format!(".{}", URL_SAFE_NO_PAD.encode(compressed))
    } else {
        URL_SAFE_NO_PAD.encode(json)
    }
}

/// A payload could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// Not base64.
    #[error("the payload is not base64")]
    Base64,
    /// Not zlib data, or too large once inflated.
    #[error(transparent)]
    Inflate(#[from] InflateError),
}

/// `URLSafeSerializerMixin.load_payload`, bounded to [`MAX_INFLATED`] bytes.
pub fn load_payload(payload: &str) -> Result<Vec<u8>, PayloadError> {
    let (compressed, b64) = match payload.strip_prefix('.') {
        Some(rest) => (true, rest),
        None => (false, payload),
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(b64.trim_end_matches('='))
        .map_err(|_| PayloadError::Base64)?;
    if compressed {
        Ok(zlib_decompress(&bytes, MAX_INFLATED)?)
    } else {
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;

    #[test]
    fn timestamps_round_trip_and_are_minimal() {
        let keys = KeyRing::new(SecretKey::new("k".repeat(32)).unwrap());
        let s = ItsSigner::new(&keys, b"cookie-session");
        let signed = s.sign_timestamped("payload", 1_700_000_000);
        let ts = signed.split('.').nth(1).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(ts).unwrap().len(), 4);
        assert_eq!(
            s.unsign_timestamped(&signed).unwrap(),
            ("payload", 1_700_000_000, false)
        );
        assert!(s
            .unsign_timestamped(&signed.replace("payload", "paylaod"))
            .is_err());
    }

    #[test]
    fn payloads_round_trip() {
        for json in [&b"{}"[..], &[b'a'; 500][..]] {
            assert_eq!(load_payload(&dump_payload(json)).unwrap(), json);
        }
        assert!(dump_payload(&[b'a'; 500]).starts_with('.'));
    }
}
