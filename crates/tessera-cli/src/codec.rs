//! The `cookie` and `record` commands.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use tessera::cookie_session::{CookieCodec, CookieFormat, NativeCookieCodec};
use tessera::crypto::{KeyRing, SecretKey};
use tessera::interop::django::{DjangoSigner, SESSION_DATA_SALT, SIGNED_COOKIES_SALT};
use tessera::interop::flask::FlaskCookieCodec;
use tessera::interop::flask_session::{decode_record, encode_record};
use tessera::interop::pyjson::{self, Ascii, Keys};
use tessera::{Data, Expiry, ExpiryPolicy, Record};
use time::{Duration, OffsetDateTime};

use crate::{Command, CookieArgs, CookieCommand, CookieProfile, RecordCommand, RecordProfile};

type Outcome = Result<String, String>;

pub(crate) fn run(command: Command) -> Outcome {
    match command {
        Command::Cookie(CookieCommand::Decode {
            keys,
            cookie,
            now,
            cookie_value,
        }) => {
            let ring = ring(&keys.secret_key, &keys.fallback_keys)?;
            let now = at(now)?;
            decode_cookie(keys.profile, &ring, &cookie, &cookie_value, now)
        }
        Command::Cookie(CookieCommand::Encode {
            keys,
            cookie,
            timestamp,
            encrypted,
            compress,
            json,
        }) => {
            let ring = ring(&keys.secret_key, &keys.fallback_keys)?;
            let data = parse(&json)?;
            let now = at(timestamp)?;
            if keys.profile != CookieProfile::Native && (encrypted || compress) {
                return Err("--encrypted and --compress apply to the native profile only".into());
            }
            encode_cookie(keys.profile, &ring, &cookie, data, now, encrypted, compress)
        }
        Command::Record(RecordCommand::Decode {
            profile,
            keys,
            value,
        }) => match profile {
            RecordProfile::Django => {
                let ring = django_ring(keys.secret_key.as_deref(), &keys.fallback_keys)?;
                let (json, _, _) = DjangoSigner::new(&ring, SESSION_DATA_SALT)
                    .loads_bytes(value.trim())
                    .map_err(|e| format!("not a Django session_data for this key: {e}"))?;
                reprint(&json)
            }
            RecordProfile::FlaskSession => {
                let bytes = STANDARD
                    .decode(value.trim())
                    .map_err(|_| "the value is not base64 (pass the msgpack bytes as base64)")?;
                let data = decode_record(&bytes).map_err(|e| e.to_string())?;
                Ok(print(&data))
            }
            RecordProfile::Native => {
                let bytes = STANDARD
                    .decode(value.trim())
                    .map_err(|_| "the value is not base64 (pass the stored bytes as base64)")?;
                let record = Record::decode(&bytes).map_err(|e| e.to_string())?;
                // The JSON form: what an operator can read, and `record encode` takes back.
                String::from_utf8(record.encode_json()).map_err(|e| e.to_string())
            }
        },
        Command::Record(RecordCommand::Encode {
            profile,
            keys,
            timestamp,
            json,
        }) => match profile {
            RecordProfile::Native => {
                if timestamp.is_some() {
                    return Err("tessera's records carry their deadline as `x`".into());
                }
                let record = Record::decode(json.trim().as_bytes())
                    .map_err(|_| "the record must be a JSON object with `d` and `x`")?;
                Ok(STANDARD.encode(record.encode()))
            }
            RecordProfile::Django => {
                let data = parse(&json)?;
                let ring = django_ring(keys.secret_key.as_deref(), &keys.fallback_keys)?;
                let json = pyjson::dumps_map(&data, Keys::AsGiven, Ascii::Escape);
                let ts = at(timestamp)?.unix_timestamp();
                Ok(DjangoSigner::new(&ring, SESSION_DATA_SALT).dumps_json(&json, ts, true))
            }
            RecordProfile::FlaskSession => {
                if timestamp.is_some() {
                    return Err("Flask-Session records carry no timestamp".into());
                }
                Ok(STANDARD.encode(encode_record(&parse(&json)?)))
            }
        },
        // The store commands are run by `main`, never here.
        _ => Err("not a codec command".into()),
    }
}

fn decode_cookie(
    profile: CookieProfile,
    ring: &KeyRing,
    cookie: &CookieArgs,
    value: &str,
    now: OffsetDateTime,
) -> Outcome {
    let value = value.trim();
    match profile {
        CookieProfile::Native => {
            let mut last = String::new();
            for format in [CookieFormat::Signed, CookieFormat::Encrypted] {
                let codec = NativeCookieCodec::new(format, ring, false);
                match codec.decode(&cookie.cookie_name, value, now) {
                    Ok(decoded) => return Ok(print(&decoded.record.data)),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(format!(
                "not a tessera session cookie for this key and cookie name: {last}"
            ))
        }
        CookieProfile::Flask => {
            let policy = ExpiryPolicy::new(max_age(cookie, Duration::days(31))?, false);
            let (data, _, _) = FlaskCookieCodec::new(ring, policy)
                .decode_dict(value, now)
                .map_err(|e| e.to_string())?;
            Ok(print(&data))
        }
        CookieProfile::Django => {
            let (json, signed_at, _) = DjangoSigner::new(ring, SIGNED_COOKIES_SALT)
                .loads_bytes(value)
                .map_err(|e| format!("not a Django signed_cookies session for this key: {e}"))?;
            let age = now.unix_timestamp() - signed_at;
            let max = max_age(cookie, Duration::weeks(2))?;
            if age > max.whole_seconds() {
                return Err(format!(
                    "the session expired: signed {age} s ago, the limit is {} s",
                    max.whole_seconds()
                ));
            }
            reprint(&json)
        }
    }
}

fn encode_cookie(
    profile: CookieProfile,
    ring: &KeyRing,
    cookie: &CookieArgs,
    data: Data,
    now: OffsetDateTime,
    encrypted: bool,
    compress: bool,
) -> Outcome {
    match profile {
        CookieProfile::Native => {
            let format = if encrypted {
                CookieFormat::Encrypted
            } else {
                CookieFormat::Signed
            };
            let lifetime = max_age(cookie, Duration::days(31))?;
            let record = Record::new(data, Expiry::Default, now + lifetime);
            NativeCookieCodec::new(format, ring, compress)
                .encode(&cookie.cookie_name, &record, now)
                .map_err(|e| e.to_string())
        }
        CookieProfile::Flask => {
            let policy = ExpiryPolicy::new(max_age(cookie, Duration::days(31))?, false);
            Ok(FlaskCookieCodec::new(ring, policy).encode_dict(&data, now))
        }
        CookieProfile::Django => {
            let json = pyjson::dumps_map(&data, Keys::AsGiven, Ascii::Escape);
            Ok(DjangoSigner::new(ring, SIGNED_COOKIES_SALT).dumps_json(
                &json,
                now.unix_timestamp(),
                true,
            ))
        }
    }
}

fn ring(secret: &str, fallbacks: &[String]) -> Result<KeyRing, String> {
    let key = |k: &str| SecretKey::new(k).map_err(|e| e.to_string());
    let mut ring = KeyRing::new(key(secret)?);
    for fallback in fallbacks {
        ring = ring.with_fallback(key(fallback)?);
    }
    Ok(ring)
}

fn django_ring(secret: Option<&str>, fallbacks: &[String]) -> Result<KeyRing, String> {
    ring(
        secret.ok_or("Django records are signed: pass --secret-key or set SECRET_KEY")?,
        fallbacks,
    )
}

fn at(unix: Option<i64>) -> Result<OffsetDateTime, String> {
    match unix {
        Some(t) => {
            OffsetDateTime::from_unix_timestamp(t).map_err(|e| format!("bad Unix time {t}: {e}"))
        }
        None => Ok(OffsetDateTime::now_utc()),
    }
}

fn max_age(cookie: &CookieArgs, default: Duration) -> Result<Duration, String> {
    match cookie.max_age {
        None => Ok(default),
        Some(s) if s > 0 => Ok(Duration::seconds(s)),
        Some(s) => Err(format!("--max-age must be positive, got {s}")),
    }
}

fn parse(json: &str) -> Result<Data, String> {
    serde_json::from_str(json).map_err(|e| format!("the session must be a JSON object: {e}"))
}

fn reprint(json: &[u8]) -> Outcome {
    let data: Data = serde_json::from_slice(json)
        .map_err(|e| format!("the payload is not a JSON object: {e}"))?;
    Ok(print(&data))
}

fn print(data: &Data) -> String {
    serde_json::to_string(data).unwrap_or_default()
}
