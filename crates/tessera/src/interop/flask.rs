//! Flask 3.1's built-in cookie session (`SecureCookieSessionInterface`).
//!
//! The cookie is itsdangerous' `URLSafeTimedSerializer` output with the salt `cookie-session`:
//! Flask's tagged JSON (compact, sorted keys, ASCII-escaped), zlib-compressed when that is
//! shorter, base64, a timestamp, and an HMAC-SHA1 signature under a key derived from
//! `SECRET_KEY`. Flask refuses a cookie signed more than `PERMANENT_SESSION_LIFETIME` ago
//! whatever the session's `permanent` flag, and so does this codec.
//!
//! Values keep Flask's tagged form as they came: a Python tuple `(1, 2)` is the JSON value
//! `{" t": [1, 2]}` in the Rust session, bytes are `{" b": "<base64>"}`, a datetime is
//! `{" d": "<HTTP date>"}`, a UUID `{" u": "<hex>"}`, Markup `{" m": "<html>"}`. Written back,
//! they are the same bytes, so Python reads the same types. The `_permanent` key becomes the
//! session's expiry ([`Session::is_permanent`](crate::Session::is_permanent)) and is written
//! back as Flask writes it.

use serde_json::Value;
use time::{Duration, OffsetDateTime};

use super::itsdangerous::{dump_payload, load_payload, ItsSigner, PayloadError};
use super::pyjson::{self, Ascii, Keys};
use crate::cookie_session::{CookieCodec, CookieError, Decoded, MAX_COOKIE_VALUE};
use crate::crypto::KeyRing;
use crate::expiry::{Expiry, ExpiryPolicy};
use crate::record::{Data, DecodeError, Record};

/// The salt Flask signs session cookies with.
pub const SALT: &[u8] = b"cookie-session";
/// The key Flask keeps the permanent flag under.
pub const PERMANENT_KEY: &str = "_permanent";

/// Flask's cookie session format.
///
/// ```
/// use tessera::cookie_session::CookieCodec;
/// use tessera::crypto::{KeyRing, SecretKey};
/// use tessera::interop::flask::FlaskCookieCodec;
/// use tessera::{ExpiryPolicy, Record, Expiry};
/// use time::{Duration, OffsetDateTime};
///
/// let keys = KeyRing::new(SecretKey::new("a Flask SECRET_KEY of 32+ bytes....").unwrap());
/// let codec = FlaskCookieCodec::new(&keys, ExpiryPolicy::new(Duration::days(31), false));
/// let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
/// let mut data = tessera::Data::new();
/// data.insert("user".into(), "ada".into());
/// let cookie = codec.encode("session", &Record::new(data, Expiry::Default, now), now).unwrap();
/// assert!(cookie.starts_with("eyJ1c2VyIjoiYWRhIn0.")); // base64 of {"user":"ada"}
/// assert_eq!(codec.decode("session", &cookie, now).unwrap().record.data.get("user").unwrap(), "ada");
/// ```
#[derive(Debug, Clone)]
pub struct FlaskCookieCodec {
    signer: ItsSigner,
    policy: ExpiryPolicy,
}

impl FlaskCookieCodec {
    /// A codec for Flask apps sharing `keys` (Flask's `SECRET_KEY` and
    /// `SECRET_KEY_FALLBACKS`) and `policy` (its `PERMANENT_SESSION_LIFETIME`; Flask's
    /// sessions are not permanent unless marked, so configure `SESSION_PERMANENT=false` to
    /// match its default).
    pub fn new(keys: &KeyRing, policy: ExpiryPolicy) -> Self {
        Self {
            signer: ItsSigner::new(keys, SALT),
            policy,
        }
    }
}

/// The session's expiry from Flask's `permanent` flag.
pub(crate) fn expiry_of(policy: ExpiryPolicy, permanent: bool) -> Expiry {
    match (permanent, policy.permanent_by_default()) {
        (true, true) | (false, false) => Expiry::Default,
        (true, false) => Expiry::Age(policy.lifetime()),
        (false, true) => Expiry::BrowserClose,
    }
}

/// The session dict as Flask holds it: the data with `_permanent` set when the session is
/// permanent under `policy`.
pub fn dict_from_record(record: &Record, policy: ExpiryPolicy) -> Data {
    let mut data = Data::clone(&record.data);
    data.remove(PERMANENT_KEY);
    if !policy.at_browser_close(record.expiry) {
        data.insert(PERMANENT_KEY.to_owned(), Value::Bool(true));
    }
    super::meta::put(&record.meta, &mut data);
    data
}

/// A record from the session dict as Flask holds it: `_permanent` becomes the expiry.
pub fn record_from_dict(
    mut data: Data,
    policy: ExpiryPolicy,
    expires_at: OffsetDateTime,
) -> Record {
    let permanent = data.remove(PERMANENT_KEY) == Some(Value::Bool(true));
    let meta = super::meta::take(&mut data);
    Record::new(data, expiry_of(policy, permanent), expires_at).with_meta(meta)
}

impl FlaskCookieCodec {
    /// The cookie for Flask's session dict `data`, signed at `now` (the CLI's `cookie encode`).
    pub fn encode_dict(&self, data: &Data, now: OffsetDateTime) -> String {
        let json = pyjson::dumps_map(data, Keys::Sorted, Ascii::Escape);
        self.signer
            .sign_timestamped(&dump_payload(json.as_bytes()), now.unix_timestamp())
    }

    /// Flask's session dict in `value` and when it was signed, if the signature verifies and
    /// it is within the lifetime at `now`.
    pub fn decode_dict(
        &self,
        value: &str,
        now: OffsetDateTime,
    ) -> Result<(Data, OffsetDateTime, bool), CookieError> {
        if value.len() > MAX_COOKIE_VALUE {
            return Err(CookieError::TooLong(value.len()));
        }
        let (payload, signed_at, rotated) = self.signer.unsign_timestamped(value)?;
        let signed_at =
            OffsetDateTime::from_unix_timestamp(signed_at).map_err(|_| CookieError::Malformed)?;
        let age = now - signed_at;
        if age > self.policy.lifetime() || age < Duration::ZERO {
            // Saturating: a validly signed far-future time must not overflow the error's date.
            return Err(CookieError::Expired(
                signed_at.saturating_add(self.policy.lifetime()),
            ));
        }
        let json = load_payload(payload).map_err(|e| match e {
            PayloadError::Inflate(crate::compress::InflateError::TooLarge(_)) => {
                CookieError::TooLarge
            }
            _ => CookieError::Malformed,
        })?;
        let data: Data = serde_json::from_slice(&json).map_err(DecodeError::from)?;
        Ok((data, signed_at, rotated))
    }
}

impl CookieCodec for FlaskCookieCodec {
    fn encode(
        &self,
        _name: &str,
        record: &Record,
        now: OffsetDateTime,
    ) -> Result<String, CookieError> {
        Ok(self.encode_dict(&dict_from_record(record, self.policy), now))
    }

    fn decode(
        &self,
        _name: &str,
        value: &str,
        now: OffsetDateTime,
    ) -> Result<Decoded, CookieError> {
        let (data, signed_at, rotated) = self.decode_dict(value, now)?;
        let expires_at = signed_at.saturating_add(self.policy.lifetime());
        Ok(Decoded {
            record: record_from_dict(data, self.policy, expires_at),
            rotated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use serde_json::json;

    fn codec(permanent_by_default: bool) -> FlaskCookieCodec {
        let keys = KeyRing::new(SecretKey::new("flask-secret-key-with-32-bytes-or-more").unwrap());
        FlaskCookieCodec::new(
            &keys,
            ExpiryPolicy::new(Duration::days(31), permanent_by_default),
        )
    }

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    #[test]
    fn permanent_flag_maps_to_expiry_both_ways() {
        for default in [false, true] {
            let c = codec(default);
            for permanent in [false, true] {
                let data: Data = serde_json::from_value(json!({"a": 1})).unwrap();
                let record = Record::new(data, expiry_of(c.policy, permanent), at(0));
                let cookie = c.encode("session", &record, at(1_700_000_000)).unwrap();
                let back = c
                    .decode("session", &cookie, at(1_700_000_100))
                    .unwrap()
                    .record;
                assert_eq!(back.expiry, record.expiry);
                assert!(!back.data.contains_key(PERMANENT_KEY));
                assert_eq!(back.expires_at, at(1_700_000_000) + Duration::days(31));
            }
        }
    }

    #[test]
    fn lifetime_is_checked_from_the_signing_time() {
        let c = codec(false);
        let record = Record::new(Data::from([("a".into(), json!(1))]), Expiry::Default, at(0));
        let cookie = c.encode("s", &record, at(1_000_000)).unwrap();
        assert!(c.decode("s", &cookie, at(1_000_000 + 31 * 86_400)).is_ok());
        assert!(matches!(
            c.decode("s", &cookie, at(1_000_001 + 31 * 86_400)),
            Err(CookieError::Expired(_))
        ));
        assert!(
            c.decode("s", &cookie, at(999_999)).is_err(),
            "signed in the future"
        );
    }

    #[test]
    fn a_signing_time_at_the_end_of_time_is_refused_not_a_panic() {
        // Found by the cookie_flask fuzz target: a cookie signed (with the key) in the far
        // future overflowed `signed_at + lifetime` building the error. The same sum on
        // success overflowed for a lifetime near `Duration::MAX` (found reading the fix).
        let c = codec(false);
        let last = 253_402_300_799; // 9999-12-31 23:59:59 UTC
        let cookie = c.signer.sign_timestamped(&dump_payload(b"{}"), last);
        assert!(matches!(
            c.decode("s", &cookie, at(1_700_000_000)),
            Err(CookieError::Expired(_))
        ));
        let keys = KeyRing::new(SecretKey::new("flask-secret-key-with-32-bytes-or-more").unwrap());
        let forever = FlaskCookieCodec::new(&keys, ExpiryPolicy::new(Duration::MAX, false));
        let cookie = forever
            .signer
            .sign_timestamped(&dump_payload(b"{}"), 1_700_000_000);
        let decoded = forever.decode("s", &cookie, at(1_700_000_100)).unwrap();
        assert!(decoded.record.expires_at > at(1_700_000_100));
    }
}
