//! Sessions kept whole in the cookie, signed or encrypted (Flask's built-in session, Django's
//! `signed_cookies` engine).
//!
//! A cookie session has no server-side store: the cookie carries the data, the expiry choice
//! and the deadline, so a replayed cookie is refused once its deadline passes even if the
//! browser kept it. What it cannot do is what needs a server: revoke a session before its
//! deadline (logout only deletes the cookie in this browser), or merge two concurrent
//! requests' changes (the last response's cookie wins).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use time::OffsetDateTime;

pub use crate::compress::MAX_INFLATED;
use crate::compress::{deflate_if_smaller, inflate, InflateError};
use crate::crypto::{KeyRing, Purpose, SealError, Sealer, SignatureError, Signer};
use crate::record::{DecodeError, Record};

/// The longest cookie value decoded; anything longer is refused unread.
pub const MAX_COOKIE_VALUE: usize = 8192;

/// Turns a session into a cookie value and back: tessera's own formats
/// ([`NativeCookieCodec`]) or another framework's (see [`crate::interop`]).
pub trait CookieCodec: fmt::Debug + Send + Sync + 'static {
    /// The value of the cookie called `name` holding `record`, made at `now`.
    fn encode(
        &self,
        name: &str,
        record: &Record,
        now: OffsetDateTime,
    ) -> Result<String, CookieError>;

    /// The session in `value`, if it verifies and has not expired at `now`.
    fn decode(&self, name: &str, value: &str, now: OffsetDateTime) -> Result<Decoded, CookieError>;
}

/// How a cookie session protects its contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CookieFormat {
    /// Readable by the client, tamper-proof: keyed BLAKE3 over the cookie name and the value.
    Signed,
    /// Unreadable and tamper-proof: XAES-256-GCM (random 192-bit nonces) with the cookie name
    /// as associated data ([`Sealer`]). Cookies encrypted by earlier versions of tessera
    /// (XChaCha20-Poly1305) still decode, and are sent again in the current format.
    Encrypted,
}

/// A cookie value that is not a valid session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CookieError {
    /// The value is longer than [`MAX_COOKIE_VALUE`].
    #[error("the cookie is {0} bytes, over the {MAX_COOKIE_VALUE}-byte limit")]
    TooLong(usize),
    /// The signature does not verify.
    #[error("the cookie's signature does not verify")]
    Signature(#[from] SignatureError),
    /// The value does not decrypt.
    #[error("the cookie does not decrypt")]
    Seal(#[from] SealError),
    /// The value is not well-formed base64, compressed data or session payload.
    #[error("the cookie is not well-formed")]
    Malformed,
    /// The value inflates past [`MAX_INFLATED`].
    #[error("the cookie inflates past {MAX_INFLATED} bytes")]
    TooLarge,
    /// The session cannot be written in this format.
    #[error("the session cannot be written as this cookie: {0}")]
    Unrepresentable(String),
    /// The payload is not a session record.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The session's deadline has passed.
    #[error("the session expired at {0}")]
    Expired(OffsetDateTime),
}

/// A decoded cookie session.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The session.
    pub record: Record,
    /// True when it should be sent again: a fallback key accepted it, or it is in an older
    /// format (an encrypted cookie sealed with XChaCha20-Poly1305 by an earlier tessera).
    pub rotated: bool,
}

#[derive(Debug, Clone)]
enum Protection {
    Signed(Signer),
    Encrypted(Sealer),
}

/// tessera's own cookie sessions: the native record, signed or encrypted.
///
/// A signed cookie carries the record's compact JSON ([`Record::encode_json`]), not the binary
/// form the server-side stores keep: it stays readable by the client, and app servers of an
/// earlier release (during a rolling upgrade) still read it. An encrypted cookie, which nobody
/// can read without the key anyway, carries the binary form ([`Record::encode`]): it costs a
/// fraction of the JSON's instructions to write and read. Decoding takes either form in both.
///
/// ```
/// use tessera::cookie_session::{CookieCodec, CookieFormat, NativeCookieCodec};
/// use tessera::crypto::{KeyRing, SecretKey};
/// use tessera::{Expiry, Record};
/// use time::{Duration, OffsetDateTime};
///
/// let keys = KeyRing::new(SecretKey::new("k".repeat(32)).unwrap());
/// let codec = NativeCookieCodec::new(CookieFormat::Encrypted, &keys, false);
/// let now = OffsetDateTime::now_utc();
/// let record = Record::new(Default::default(), Expiry::Default, now + Duration::hours(1));
/// let value = codec.encode("session", &record, now).unwrap();
/// assert_eq!(codec.decode("session", &value, now).unwrap().record.expiry, Expiry::Default);
/// assert!(codec.decode("session", &value, now + Duration::hours(2)).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct NativeCookieCodec {
    protection: Protection,
    compress: bool,
}

impl NativeCookieCodec {
    /// A codec protecting cookies with `keys`; `compress` deflates payloads that shrink.
    pub fn new(format: CookieFormat, keys: &KeyRing, compress: bool) -> Self {
        let protection = match format {
            CookieFormat::Signed => Protection::Signed(Signer::new(keys, Purpose::SignedCookie)),
            CookieFormat::Encrypted => Protection::Encrypted(Sealer::new(keys)),
        };
        Self {
            protection,
            compress,
        }
    }

    /// Which protection this codec applies.
    pub fn format(&self) -> CookieFormat {
        match self.protection {
            Protection::Signed(_) => CookieFormat::Signed,
            Protection::Encrypted(_) => CookieFormat::Encrypted,
        }
    }
}

impl CookieCodec for NativeCookieCodec {
    fn encode(
        &self,
        name: &str,
        record: &Record,
        _now: OffsetDateTime,
    ) -> Result<String, CookieError> {
        let payload = match &self.protection {
            Protection::Signed(_) => record.encode_json(),
            Protection::Encrypted(_) => record.encode(),
        };
        let deflated = if self.compress {
            deflate_if_smaller(&payload)
        } else {
            None
        };
        match &self.protection {
            Protection::Signed(signer) => {
                // `.` before the payload marks it deflated, as itsdangerous does.
                let payload = match deflated {
                    Some(d) => format!(".{}", URL_SAFE_NO_PAD.encode(d)),
                    None => URL_SAFE_NO_PAD.encode(payload),
                };
                Ok(signer.sign(name, &payload))
            }
            Protection::Encrypted(sealer) => {
                // One flag byte inside the ciphertext: 0 the plain record, 1 deflated.
                let parts: [&[u8]; 2] = match &deflated {
                    Some(d) => [&[1], d],
                    None => [&[0], &payload],
                };
                Ok(sealer.seal_parts(name, &parts)?)
            }
        }
    }

    fn decode(&self, name: &str, value: &str, now: OffsetDateTime) -> Result<Decoded, CookieError> {
        if value.len() > MAX_COOKIE_VALUE {
            return Err(CookieError::TooLong(value.len()));
        }
        let (payload, rotated) = match &self.protection {
            Protection::Signed(signer) => {
                let verified = signer.verify(name, value)?;
                let json = match verified.value.strip_prefix('.') {
                    Some(deflated) => inflate_cookie(&unbase64(deflated)?)?,
                    None => unbase64(verified.value)?,
                };
                (json, verified.rotated)
            }
            Protection::Encrypted(sealer) => {
                let opened = sealer.open(name, value)?;
                let bytes = match opened.plaintext.first() {
                    // Drops the flag byte in place rather than copying the payload out.
                    Some(0) => {
                        let mut bytes = opened.plaintext;
                        bytes.remove(0);
                        bytes
                    }
                    Some(1) => inflate_cookie(&opened.plaintext[1..])?,
                    _ => return Err(CookieError::Malformed),
                };
                (bytes, opened.rotated)
            }
        };
        let record = Record::decode(&payload)?;
        if record.is_expired(now) {
            return Err(CookieError::Expired(record.expires_at));
        }
        Ok(Decoded { record, rotated })
    }
}

fn unbase64(s: &str) -> Result<Vec<u8>, CookieError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| CookieError::Malformed)
}

fn inflate_cookie(bytes: &[u8]) -> Result<Vec<u8>, CookieError> {
    inflate(bytes, MAX_INFLATED).map_err(|e| match e {
        InflateError::TooLarge(_) => CookieError::TooLarge,
        _ => CookieError::Malformed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use crate::expiry::Expiry;
    use crate::record::Data;
    use proptest::prelude::*;
    use serde_json::json;
    use time::macros::datetime;
    use time::Duration;

    const NOW: OffsetDateTime = datetime!(2030-01-01 0:00 UTC);

    fn keys(c: char) -> KeyRing {
        KeyRing::new(SecretKey::new(c.to_string().repeat(32)).unwrap())
    }

    fn record(data: Data) -> Record {
        Record::new(data, Expiry::Default, NOW + Duration::days(1))
    }

    fn codecs() -> Vec<NativeCookieCodec> {
        let mut out = Vec::new();
        for format in [CookieFormat::Signed, CookieFormat::Encrypted] {
            for compress in [false, true] {
                out.push(NativeCookieCodec::new(format, &keys('a'), compress));
            }
        }
        out
    }

    #[test]
    fn round_trip_every_format() {
        let data = Data::from([
            ("user".to_owned(), json!("ada")),
            (
                "cart".to_owned(),
                json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 1, 1, 1, 1, 1, 1]),
            ),
        ]);
        for codec in codecs() {
            let value = codec.encode("session", &record(data.clone()), NOW).unwrap();
            let decoded = codec.decode("session", &value, NOW).unwrap();
            assert_eq!(decoded.record, record(data.clone()));
            assert!(!decoded.rotated);
            assert!(codec.decode("other", &value, NOW).is_err());
        }
    }

    #[test]
    fn compression_shrinks_repetitive_sessions() {
        let data = Data::from([("text".to_owned(), json!("abc".repeat(500)))]);
        for format in [CookieFormat::Signed, CookieFormat::Encrypted] {
            let plain = NativeCookieCodec::new(format, &keys('a'), false);
            let packed = NativeCookieCodec::new(format, &keys('a'), true);
            let a = plain.encode("s", &record(data.clone()), NOW).unwrap();
            let b = packed.encode("s", &record(data.clone()), NOW).unwrap();
            assert!(b.len() * 4 < a.len(), "{} vs {}", b.len(), a.len());
            assert_eq!(
                packed.decode("s", &b, NOW).unwrap().record,
                record(data.clone())
            );
        }
    }

    #[test]
    fn expired_cookies_are_refused() {
        for codec in codecs() {
            let value = codec.encode("session", &record(Data::new()), NOW).unwrap();
            assert!(matches!(
                codec.decode("session", &value, NOW + Duration::days(2)),
                Err(CookieError::Expired(_))
            ));
        }
    }

    #[test]
    fn rotated_keys_decode_and_say_so() {
        let old = NativeCookieCodec::new(CookieFormat::Signed, &keys('o'), false);
        let new = NativeCookieCodec::new(
            CookieFormat::Signed,
            &keys('n').with_fallback(SecretKey::new("o".repeat(32)).unwrap()),
            false,
        );
        let value = old.encode("session", &record(Data::new()), NOW).unwrap();
        assert!(new.decode("session", &value, NOW).unwrap().rotated);
    }

    #[test]
    fn legacy_encrypted_cookies_decode_and_ask_to_be_sent_again() {
        let codec = NativeCookieCodec::new(CookieFormat::Encrypted, &keys('a'), true);
        let rec = record(Data::from([("user".to_owned(), json!("ada"))]));
        // What an earlier tessera sealed: the flag byte, then the record's JSON.
        let mut plaintext = vec![0];
        plaintext.extend_from_slice(&rec.encode_json());
        let legacy = crate::crypto::legacy_seal(
            &SecretKey::new("a".repeat(32)).unwrap(),
            "session",
            &plaintext,
        );
        let decoded = codec.decode("session", &legacy, NOW).unwrap();
        assert_eq!(decoded.record, rec);
        assert!(decoded.rotated, "an old-format cookie is sent again");
        let again = codec.encode("session", &decoded.record, NOW).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&again).unwrap()[0], 0x01);
        assert!(!codec.decode("session", &again, NOW).unwrap().rotated);
        assert!(codec.decode("other", &legacy, NOW).is_err());
    }

    #[test]
    fn inflation_is_bounded() {
        let bomb = deflate_if_smaller(&vec![b' '; MAX_INFLATED * 4]).unwrap();
        let signer = Signer::new(&keys('a'), Purpose::SignedCookie);
        let value = signer.sign("s", &format!(".{}", URL_SAFE_NO_PAD.encode(&bomb)));
        let codec = NativeCookieCodec::new(CookieFormat::Signed, &keys('a'), true);
        assert!(matches!(
            codec.decode("s", &value, NOW),
            Err(CookieError::TooLarge)
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_values_never_panic(value in ".{0,600}", bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let b64 = URL_SAFE_NO_PAD.encode(&bytes);
            for codec in codecs() {
                for candidate in [value.as_str(), b64.as_str(), &format!("{b64}.{b64}"), &format!(".{b64}.{value}")] {
                    prop_assert!(codec.decode("session", candidate, NOW).is_err());
                }
            }
        }

        #[test]
        fn validly_signed_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), deflated in any::<bool>()) {
            // Past the MAC: what the payload decoders see when the key leaks or a bug signs junk.
            let signer = Signer::new(&keys('a'), Purpose::SignedCookie);
            let sealer = Sealer::new(&keys('a'));
            let payload = if deflated { format!(".{}", URL_SAFE_NO_PAD.encode(&bytes)) } else { URL_SAFE_NO_PAD.encode(&bytes) };
            let signed = signer.sign("session", &payload);
            let sealed = sealer.seal("session", &bytes).unwrap();
            for codec in codecs() {
                let _ = codec.decode("session", &signed, NOW);
                let _ = codec.decode("session", &sealed, NOW);
            }
        }
    }
}
