//! Django 5.2's `django.core.signing` and its session formats: the `signed_cookies` engine's
//! cookie and the `session_data` the db, cached_db and file engines store.
//!
//! A signed value is `base64(json)[:timestamp]:signature`, the signature an HMAC-SHA256 under
//! `sha256(salt + "signer" + SECRET_KEY)`, the timestamp base62, the JSON compact with ASCII
//! escapes, zlib-compressed (`.` in front) when that is shorter. Django's sessions keep their
//! own expiry under `_session_expiry` (seconds, `0` for the browser session, or an ISO date);
//! it becomes the Rust session's [`Expiry`] and is written back in Django's form.
//!
//! Django writes keys in insertion order; tessera writes them sorted. Django reads either.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::itsdangerous::PayloadError;
use super::pyjson::{self, Ascii, Keys};
use crate::compress::{zlib_compress, zlib_decompress, InflateError, MAX_INFLATED};
use crate::cookie_session::{CookieCodec, CookieError, Decoded, MAX_COOKIE_VALUE};
use crate::crypto::{KeyRing, SignatureError};
use crate::expiry::{Expiry, ExpiryPolicy};
use crate::id::{RandomError, SessionId};
use crate::record::{Data, DecodeError, Record};

type HmacSha256 = Hmac<Sha256>;

/// The salt of the `signed_cookies` session engine.
pub const SIGNED_COOKIES_SALT: &str = "django.contrib.sessions.backends.signed_cookies";
/// The salt of `session_data` in the db, cached_db, cache and file engines (every engine's
/// class is named `SessionStore`).
pub const SESSION_DATA_SALT: &str = "django.contrib.sessions.SessionStore";
/// The most bytes a stored `session_data` may inflate to (16 MiB): far above any session, low
/// enough that a planted zlib bomb cannot exhaust memory.
pub const MAX_SESSION_DATA: usize = 16 * 1024 * 1024;
/// The key Django keeps a session's own expiry under.
pub const EXPIRY_KEY: &str = "_session_expiry";
/// The key prefix of Django's `cache` session engine (`KEY_PREFIX` in
/// `django.contrib.sessions.backends.cache`), before the session key.
pub const CACHE_KEY_PREFIX: &str = "django.contrib.sessions.cache";
/// The key prefix of the cache half of Django's `cached_db` engine.
pub const CACHED_DB_KEY_PREFIX: &str = "django.contrib.sessions.cached_db";
/// Django's session engines that keep sessions in a cache, whose keys differ by prefix.
///
/// ```
/// use tessera::interop::django::{cache_key, CacheEngine};
///
/// // Django's defaults: KEY_PREFIX "", VERSION 1.
/// let key = cache_key("", 1, &format!("{}{}", CacheEngine::Cache.key_prefix(), "abc"));
/// assert_eq!(key, ":1:django.contrib.sessions.cacheabc");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CacheEngine {
    /// The `cache` engine: the cache is the only copy.
    #[default]
    Cache,
    /// The cache half of `cached_db`: a copy of the `django_session` row's data.
    CachedDb,
}

impl CacheEngine {
    /// What the engine puts before the session key ([`CACHE_KEY_PREFIX`],
    /// [`CACHED_DB_KEY_PREFIX`]).
    pub fn key_prefix(self) -> &'static str {
        match self {
            Self::Cache => CACHE_KEY_PREFIX,
            Self::CachedDb => CACHED_DB_KEY_PREFIX,
        }
    }
}

/// Django's default cache key function (`django.core.cache.backends.base.default_key_func`):
/// `"%s:%s:%s" % (KEY_PREFIX, VERSION, key)`, with the cache's `KEY_PREFIX` and `VERSION`
/// settings (by default `""` and 1).
///
/// ```
/// use tessera::interop::django::cache_key;
///
/// assert_eq!(cache_key("shop", 2, "k"), "shop:2:k");
/// ```
pub fn cache_key(key_prefix: &str, version: i64, key: &str) -> String {
    format!("{key_prefix}:{version}:{key}")
}

/// The characters of a Django session key (`django.contrib.sessions.backends.base.VALID_KEY_CHARS`).
pub const VALID_KEY_CHARS: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// How long a new Django session key is (`get_random_string(32, VALID_KEY_CHARS)`).
pub const SESSION_KEY_LEN: usize = 32;
/// The shortest key Django accepts (`_validate_session_key`).
pub const MIN_SESSION_KEY_LEN: usize = 8;
/// The longest key Django's `django_session.session_key` column holds (`varchar(40)`).
pub const MAX_SESSION_KEY_LEN: usize = 40;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `django.core.signing.TimestampSigner` for one salt, over every key of a ring.
///
/// ```
/// use tessera::crypto::{KeyRing, SecretKey};
/// use tessera::interop::django::DjangoSigner;
///
/// let keys = KeyRing::new(SecretKey::new("django-insecure-0123456789abcdefghijkl").unwrap());
/// let signer = DjangoSigner::new(&keys, "django.core.signing");
/// let signed = signer.dumps(&serde_json::json!({"a": 1}), 1_700_000_000, false);
/// assert_eq!(signed.split(':').count(), 3);
/// let (value, signed_at, _) = signer.loads(&signed).unwrap();
/// assert_eq!((value, signed_at), (serde_json::json!({"a": 1}), 1_700_000_000));
/// ```
#[derive(Clone)]
pub struct DjangoSigner {
    macs: Vec<HmacSha256>,
}

impl std::fmt::Debug for DjangoSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DjangoSigner")
            .field("keys", &self.macs.len())
            .finish_non_exhaustive()
    }
}

/// A Django-signed value could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The signature does not verify.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The payload is not base64 or zlib data.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The payload is not JSON.
    #[error(transparent)]
    Json(#[from] DecodeError),
}

impl DjangoSigner {
    /// A signer for `salt`.
    pub fn new(keys: &KeyRing, salt: &str) -> Self {
        let macs = keys
            .keys()
            .iter()
            .filter_map(|secret| {
                let key = Sha256::new()
                    .chain_update(salt.as_bytes())
                    .chain_update(b"signer")
                    .chain_update(secret.expose())
                    .finalize();
                HmacSha256::new_from_slice(&key).ok()
            })
            .collect();
        Self { macs }
    }

    fn mac(&self, index: usize, value: &str) -> HmacSha256 {
        let mut mac = self.macs[index].clone();
        mac.update(value.as_bytes());
        mac
    }

    /// `Signer.sign`: `value:signature` with the current key.
    pub fn sign(&self, value: &str) -> String {
        let tag = self.mac(0, value).finalize().into_bytes();
        format!("{value}:{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// `Signer.unsign`: the value and whether a fallback key verified it.
    pub fn unsign<'a>(&self, signed: &'a str) -> Result<(&'a str, bool), SignatureError> {
        let (value, sig) = signed.rsplit_once(':').ok_or(SignatureError::Unsigned)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| SignatureError::Mismatch)?;
        (0..self.macs.len())
            .find(|&i| self.mac(i, value).verify_slice(&sig).is_ok())
            .map(|i| (value, i > 0))
            .ok_or(SignatureError::Mismatch)
    }

    /// `signing.dumps(value, compress=…)` at `timestamp` (Unix seconds).
    pub fn dumps(&self, value: &Value, timestamp: i64, compress: bool) -> String {
        self.dumps_json(
            &pyjson::dumps(value, Keys::AsGiven, Ascii::Escape),
            timestamp,
            compress,
        )
    }

    /// `signing.dumps` of JSON text already written, at `timestamp`.
    pub fn dumps_json(&self, json: &str, timestamp: i64, compress: bool) -> String {
        let json = json.as_bytes();
        let compressed = compress.then(|| zlib_compress(json));
        let payload = match compressed {
            Some(c) if c.len() + 1 < json.len() => format!(".{}", URL_SAFE_NO_PAD.encode(c)),
            _ => URL_SAFE_NO_PAD.encode(json),
        };
        self.sign(&format!("{payload}:{}", b62_encode(timestamp)))
    }

    /// `signing.loads`: the value, its signing time and whether a fallback key verified it.
    /// The caller checks the age.
    pub fn loads(&self, signed: &str) -> Result<(Value, i64, bool), LoadError> {
        let (json, timestamp, rotated) = self.loads_bytes(signed)?;
        let value = serde_json::from_slice(&json).map_err(DecodeError::from)?;
        Ok((value, timestamp, rotated))
    }

    /// `signing.loads` up to the JSON text: the bytes, the signing time and whether a
    /// fallback key verified them.
    pub fn loads_bytes(&self, signed: &str) -> Result<(Vec<u8>, i64, bool), LoadError> {
        self.loads_bytes_within(signed, MAX_INFLATED)
    }

    /// [`loads_bytes`](Self::loads_bytes) with its own bound on the inflated size (a stored
    /// `session_data` may be larger than a cookie).
    pub fn loads_bytes_within(
        &self,
        signed: &str,
        max_inflated: usize,
    ) -> Result<(Vec<u8>, i64, bool), LoadError> {
        let (value, rotated) = self.unsign(signed)?;
        let (payload, ts) = value.rsplit_once(':').ok_or(SignatureError::Mismatch)?;
        let timestamp = b62_decode(ts).ok_or(SignatureError::Mismatch)?;
        let (compressed, b64) = match payload.strip_prefix('.') {
            Some(rest) => (true, rest),
            None => (false, payload),
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| PayloadError::Base64)?;
        let json = if compressed {
            zlib_decompress(&bytes, max_inflated).map_err(PayloadError::from)?
        } else {
            bytes
        };
        Ok((json, timestamp, rotated))
    }
}

/// A new Django session key: 32 characters of `[a-z0-9]` from the operating system's CSPRNG
/// (about 165 bits), as Django's `get_random_string(32, VALID_KEY_CHARS)` makes them.
///
/// ```
/// let key = tessera::interop::django::generate_session_key().unwrap();
/// assert_eq!(key.expose().len(), 32);
/// assert!(tessera::interop::django::is_valid_session_key(key.expose()));
/// ```
pub fn generate_session_key() -> Result<SessionId, RandomError> {
    let mut key = String::with_capacity(SESSION_KEY_LEN);
    let mut bytes = [0u8; 64];
    while key.len() < SESSION_KEY_LEN {
        getrandom::fill(&mut bytes).map_err(RandomError::from)?;
        // 252 = 7 * 36: dropping bytes above it keeps every character equally likely.
        for b in bytes.iter().filter(|b| **b < 252) {
            if key.len() == SESSION_KEY_LEN {
                break;
            }
            key.push(char::from(VALID_KEY_CHARS[usize::from(*b % 36)]));
        }
    }
    Ok(SessionId::from_trusted(key))
}

/// Whether Django would use `key` as a session key: 8 to 40 characters of `[a-z0-9]`
/// (`_validate_session_key` wants at least 8, the column holds 40, and the file engine
/// refuses any other character).
pub fn is_valid_session_key(key: &str) -> bool {
    (MIN_SESSION_KEY_LEN..=MAX_SESSION_KEY_LEN).contains(&key.len())
        && key.bytes().all(|b| VALID_KEY_CHARS.contains(&b))
}

fn b62_encode(n: i64) -> String {
    if n == 0 {
        return "0".to_owned();
    }
    let mut digits = Vec::new();
    let mut m = n.unsigned_abs();
    while m > 0 {
        digits.push(BASE62[(m % 62) as usize]);
        m /= 62;
    }
    if n < 0 {
        digits.push(b'-');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

fn b62_decode(s: &str) -> Option<i64> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if digits.is_empty() || digits.len() > 11 {
        return None;
    }
    let mut n: i64 = 0;
    for b in digits.bytes() {
        let d = BASE62.iter().position(|c| *c == b)? as i64;
        n = n.checked_mul(62)?.checked_add(d)?;
    }
    Some(if negative { -n } else { n })
}

/// The session's expiry from Django's `_session_expiry` value.
pub(crate) fn expiry_of(value: Option<&Value>) -> Expiry {
    match value {
        Some(Value::Number(n)) => n.as_i64().map_or(Expiry::Default, Expiry::from_seconds),
        Some(Value::String(s)) => parse_iso(s).map_or(Expiry::Default, Expiry::At),
        _ => Expiry::Default,
    }
}

/// `_session_expiry` for an expiry, as Django's `set_expiry` stores it.
pub(crate) fn expiry_value(expiry: Expiry) -> Option<Value> {
    match expiry {
        Expiry::Default => None,
        Expiry::BrowserClose => Some(Value::from(0)),
        Expiry::Age(age) => Some(Value::from(age.whole_seconds())),
        Expiry::At(at) => Some(Value::String(iso(at))),
    }
}

/// Python's `datetime.isoformat()` of an aware UTC datetime.
fn iso(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    let micros = at.microsecond();
    let frac = if micros == 0 {
        String::new()
    } else {
        format!(".{micros:06}")
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{frac}+00:00",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

fn parse_iso(s: &str) -> Option<OffsetDateTime> {
    let at = parse_iso_exact(s)?;
    // Python's datetime holds microseconds and `fromisoformat` drops any further digits; so
    // does this, or the date would not survive being written back by `iso`.
    at.replace_nanosecond(at.nanosecond() / 1_000 * 1_000).ok()
}

fn parse_iso_exact(s: &str) -> Option<OffsetDateTime> {
    if let Ok(at) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(at);
    }
    // A naive datetime (USE_TZ=False): read as UTC.
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    PrimitiveDateTime::parse(s, &format)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// The session dict as Django holds it: the data with `_session_expiry` for a session whose
/// expiry was set.
pub fn dict_from_record(record: &Record) -> Data {
    let mut data = Data::clone(&record.data);
    data.remove(EXPIRY_KEY);
    if let Some(v) = expiry_value(record.expiry) {
        data.insert(EXPIRY_KEY.to_owned(), v);
    }
    super::meta::put(&record.meta, &mut data);
    data
}

/// A record from the session dict as Django holds it: `_session_expiry` becomes the expiry.
pub fn record_from_dict(mut data: Data, expires_at: OffsetDateTime) -> Record {
    let expiry = expiry_of(data.remove(EXPIRY_KEY).as_ref());
    let meta = super::meta::take(&mut data);
    Record::new(data, expiry, expires_at).with_meta(meta)
}

fn json_of(record: &Record) -> String {
    pyjson::dumps_map(&dict_from_record(record), Keys::AsGiven, Ascii::Escape)
}

fn record_of(json: &[u8], expires_at: OffsetDateTime) -> Result<Record, DecodeError> {
    Ok(record_from_dict(serde_json::from_slice(json)?, expires_at))
}

/// The `signed_cookies` engine: the whole session in a Django-signed cookie.
///
/// `policy`'s lifetime is Django's `SESSION_COOKIE_AGE`: a cookie signed longer ago is refused,
/// as Django refuses it.
#[derive(Debug, Clone)]
pub struct DjangoCookieCodec {
    signer: DjangoSigner,
    policy: ExpiryPolicy,
}

impl DjangoCookieCodec {
    /// A codec for Django apps sharing `keys` (`SECRET_KEY` and `SECRET_KEY_FALLBACKS`).
    pub fn new(keys: &KeyRing, policy: ExpiryPolicy) -> Self {
        Self {
            signer: DjangoSigner::new(keys, SIGNED_COOKIES_SALT),
            policy,
        }
    }
}

impl CookieCodec for DjangoCookieCodec {
    fn encode(
        &self,
        _name: &str,
        record: &Record,
        now: OffsetDateTime,
    ) -> Result<String, CookieError> {
        Ok(self
            .signer
            .dumps_json(&json_of(record), now.unix_timestamp(), true))
    }

    fn decode(
        &self,
        _name: &str,
        value: &str,
        now: OffsetDateTime,
    ) -> Result<Decoded, CookieError> {
        if value.len() > MAX_COOKIE_VALUE {
            return Err(CookieError::TooLong(value.len()));
        }
        let (json, signed_at, rotated) = self.signer.loads_bytes(value).map_err(|e| match e {
            LoadError::Signature(e) => CookieError::Signature(e),
            LoadError::Payload(PayloadError::Inflate(InflateError::TooLarge(_))) => {
                CookieError::TooLarge
            }
            _ => CookieError::Malformed,
        })?;
        let signed_at =
            OffsetDateTime::from_unix_timestamp(signed_at).map_err(|_| CookieError::Malformed)?;
        // Saturating: a validly signed far-future time must not overflow the deadline.
        let expires_at = signed_at.saturating_add(self.policy.lifetime());
        if now - signed_at > self.policy.lifetime() {
            return Err(CookieError::Expired(expires_at));
        }
        Ok(Decoded {
            record: record_of(&json, expires_at)?,
            rotated,
        })
    }
}

/// Django's `session_data` for a record (the db, cached_db and file engines), signed at `now`.
pub fn encode_session_data(keys: &KeyRing, record: &Record, now: OffsetDateTime) -> String {
    DjangoSigner::new(keys, SESSION_DATA_SALT).dumps_json(
        &json_of(record),
        now.unix_timestamp(),
        true,
    )
}

/// Reads Django's `session_data`; `expires_at` comes from the row (`expire_date`).
pub fn decode_session_data(
    keys: &KeyRing,
    session_data: &str,
    expires_at: OffsetDateTime,
) -> Result<Record, LoadError> {
    let (json, _, _) = DjangoSigner::new(keys, SESSION_DATA_SALT)
        .loads_bytes_within(session_data, MAX_SESSION_DATA)?;
    Ok(record_of(&json, expires_at)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretKey;
    use serde_json::json;
    use time::macros::datetime;
    use time::Duration;

    #[test]
    fn session_keys_are_django_keys() {
        let keys: std::collections::HashSet<String> = (0..500)
            .map(|_| generate_session_key().unwrap().expose().to_owned())
            .collect();
        assert_eq!(keys.len(), 500);
        let mut seen = std::collections::HashSet::new();
        for key in &keys {
            assert_eq!(key.len(), 32);
            assert!(is_valid_session_key(key), "{key}");
            assert!(SessionId::parse(key).is_ok());
            seen.extend(key.bytes());
        }
        assert_eq!(
            seen.len(),
            36,
            "every character of VALID_KEY_CHARS is drawn"
        );
        for bad in [
            "short",
            "abcdefg",
            "ABCDEFGHIJ",
            "abcdefgh-_",
            &"a".repeat(41),
        ] {
            assert!(!is_valid_session_key(bad), "{bad}");
        }
        assert!(is_valid_session_key("abcdefgh"));
    }

    #[test]
    fn base62_matches_django() {
        // signing.b62_encode(1700000000) == "1t7GP0" ... checked against Django in the
        // interop tests; here, the round trip and edge cases.
        for n in [0, 1, 61, 62, 1_700_000_000, -5, i64::from(u32::MAX)] {
            assert_eq!(b62_decode(&b62_encode(n)), Some(n), "{n}");
        }
        assert_eq!(b62_encode(61), "z");
        assert_eq!(b62_encode(62), "10");
        assert_eq!(b62_decode("!"), None);
    }

    #[test]
    fn session_expiry_maps_both_ways() {
        for expiry in [
            Expiry::Default,
            Expiry::BrowserClose,
            Expiry::Age(Duration::seconds(300)),
            Expiry::At(datetime!(2030-01-02 03:04:05 UTC)),
            Expiry::At(datetime!(2030-01-02 03:04:05.25 UTC)),
        ] {
            assert_eq!(expiry_of(expiry_value(expiry).as_ref()), expiry);
        }
        assert_eq!(
            iso(datetime!(2030-01-02 03:04:05 UTC)),
            "2030-01-02T03:04:05+00:00"
        );
        assert_eq!(
            expiry_of(Some(&json!("2030-01-02T03:04:05"))),
            Expiry::At(datetime!(2030-01-02 03:04:05 UTC))
        );
        // Found reading the decoder for the record_django fuzz target: digits past the
        // microsecond were kept, so the expiry changed when written back.
        let nanos = expiry_of(Some(&json!("2030-01-02T03:04:05.123456789+00:00")));
        assert_eq!(nanos, Expiry::At(datetime!(2030-01-02 03:04:05.123456 UTC)));
        assert_eq!(expiry_of(expiry_value(nanos).as_ref()), nanos);
    }

    #[test]
    fn session_data_round_trips() {
        let keys = KeyRing::new(SecretKey::new("d".repeat(50)).unwrap());
        let record = Record::new(
            serde_json::from_value(json!({"_auth_user_id": "1", "n": 2})).unwrap(),
            Expiry::Age(Duration::seconds(60)),
            datetime!(2030-01-01 0:00 UTC),
        )
        .with_meta(crate::record::Meta {
            created: Some(datetime!(2029-11-30 0:00 UTC)),
            ..Default::default()
        });
        let data = encode_session_data(&keys, &record, datetime!(2029-12-01 0:00 UTC));
        let back = decode_session_data(&keys, &data, record.expires_at).unwrap();
        assert_eq!(back, record);
        let other = KeyRing::new(SecretKey::new("e".repeat(50)).unwrap());
        assert!(decode_session_data(&other, &data, record.expires_at).is_err());
    }

    #[test]
    fn a_signing_time_at_the_end_of_time_is_not_a_panic() {
        // Found by the cookie_django fuzz target: a cookie signed (with the key) for a time
        // near year 9999 overflowed `signed_at + SESSION_COOKIE_AGE`. Django takes a
        // future-dated signature (it checks the age only), and so does tessera.
        let keys = KeyRing::new(SecretKey::new("d".repeat(50)).unwrap());
        let codec = DjangoCookieCodec::new(&keys, ExpiryPolicy::new(Duration::weeks(2), true));
        let last = 253_402_300_799; // 9999-12-31 23:59:59 UTC
        let cookie = codec.signer.dumps_json(r#"{"a":1}"#, last, false);
        let decoded = codec
            .decode("sessionid", &cookie, datetime!(2023-11-14 22:13:20 UTC))
            .unwrap();
        assert_eq!(decoded.record.data["a"], 1);
        assert!(decoded.record.expires_at >= datetime!(9999-12-31 23:59:59 UTC));
    }
}
