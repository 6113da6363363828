//! Golden vectors made by real Flask and Django (`interop/python/golden.py`, fixed secret and
//! clock): tessera reads every one and reproduces each byte for byte.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use tessera::cookie_session::CookieCodec;
use tessera::crypto::{KeyRing, SecretKey};
use tessera::interop::django::{decode_session_data, encode_session_data, DjangoCookieCodec};
use tessera::interop::flask::FlaskCookieCodec;
use tessera::{Data, Expiry, ExpiryPolicy, Record};
use time::{Duration, OffsetDateTime};

fn golden() -> Value {
    serde_json::from_str(include_str!("data/golden.json")).unwrap()
}

fn ring(g: &Value, current: &str) -> KeyRing {
    KeyRing::new(SecretKey::new(g[current].as_str().unwrap()).unwrap())
        .with_fallback(SecretKey::new(g["old_secret"].as_str().unwrap()).unwrap())
}

fn now(g: &Value) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(g["now"].as_i64().unwrap()).unwrap()
}

fn data(v: &Value) -> Data {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn flask_cookies_read_and_rewrite_byte_for_byte() {
    let g = golden();
    // Flask's defaults: sessions are not permanent unless marked; 31 days.
    let policy = ExpiryPolicy::new(Duration::days(31), false);
    let codec = FlaskCookieCodec::new(&ring(&g, "flask_secret"), policy);
    let now = now(&g);
    let cases = g["flask"].as_array().unwrap();
    assert!(cases.len() >= 12);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let cookie = case["cookie"].as_str().unwrap();
        let decoded = codec
            .decode("session", cookie, now + Duration::seconds(5))
            .unwrap();
        assert_eq!(*decoded.record.data, data(&case["data"]), "{name}: data");
        assert_eq!(
            decoded.rotated,
            case.get("fallback").is_some(),
            "{name}: rotation"
        );
        let permanent = case["permanent"].as_bool().unwrap();
        let expected_expiry = if permanent {
            Expiry::Age(Duration::days(31))
        } else {
            Expiry::Default
        };
        assert_eq!(
            decoded.record.expiry, expected_expiry,
            "{name}: permanent flag"
        );
        if case.get("fallback").is_none() {
            let again = codec.encode("session", &decoded.record, now).unwrap();
            assert_eq!(again, cookie, "{name}: byte for byte");
        }
    }
}

#[test]
fn flask_cookies_expire_with_the_lifetime() {
    let g = golden();
    let cookie = g["flask"][0]["cookie"].as_str().unwrap();
    let short = FlaskCookieCodec::new(
        &ring(&g, "flask_secret"),
        ExpiryPolicy::new(Duration::hours(1), false),
    );
    assert!(short
        .decode("session", cookie, now(&g) + Duration::minutes(59))
        .is_ok());
    assert!(short
        .decode("session", cookie, now(&g) + Duration::minutes(61))
        .is_err());
    let wrong = FlaskCookieCodec::new(
        &KeyRing::new(SecretKey::new("another-secret-key-of-at-least-32-bytes").unwrap()),
        ExpiryPolicy::default(),
    );
    assert!(wrong.decode("session", cookie, now(&g)).is_err());
}

#[test]
fn django_signed_cookies_read_and_rewrite_byte_for_byte() {
    let g = golden();
    let policy = ExpiryPolicy::new(Duration::weeks(2), true);
    let codec = DjangoCookieCodec::new(&ring(&g, "django_secret"), policy);
    let now = now(&g);
    for case in g["django"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let cookie = case["signed_cookie"].as_str().unwrap();
        let decoded = codec.decode("sessionid", cookie, now).unwrap().record;
        let mut expected = data(&case["data"]);
        expected.remove("_session_expiry");
        assert_eq!(*decoded.data, expected, "{name}");
        assert_eq!(
            codec.encode("sessionid", &decoded, now).unwrap(),
            cookie,
            "{name}: byte for byte"
        );
        assert!(codec
            .decode(
                "sessionid",
                cookie,
                now + Duration::weeks(2) + Duration::seconds(1)
            )
            .is_err());
    }
}

#[test]
fn django_session_data_reads_and_rewrites_byte_for_byte() {
    let g = golden();
    let keys = ring(&g, "django_secret");
    let now = now(&g);
    for case in g["django"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let stored = case["session_data"].as_str().unwrap();
        let expire_date = now + Duration::weeks(2);
        let record = decode_session_data(&keys, stored, expire_date).unwrap();
        let expected_expiry = match case["data"].get("_session_expiry") {
            None => Expiry::Default,
            Some(Value::Number(n)) => Expiry::from_seconds(n.as_i64().unwrap()),
            Some(Value::String(_)) => Expiry::At(time::macros::datetime!(2030-01-02 03:04:05 UTC)),
            Some(other) => panic!("{other}"),
        };
        assert_eq!(record.expiry, expected_expiry, "{name}");
        assert_eq!(
            encode_session_data(&keys, &record, now),
            stored,
            "{name}: byte for byte"
        );
        // The signed-cookie salt does not open session_data, nor the reverse.
        let cookie_codec = DjangoCookieCodec::new(&keys, ExpiryPolicy::default());
        assert!(
            cookie_codec.decode("sessionid", stored, now).is_err(),
            "{name}: salts are distinct"
        );
    }
    let _ = Record::new(Data::new(), Expiry::Default, now);
}

#[test]
fn flask_session_records_read_and_rewrite_byte_for_byte() {
    use base64::Engine;
    use tessera::interop::flask_session::{
        decode_record, encode_record, sign_id, unsign_id, RecordError,
    };
    let g = golden();
    let fs = &g["flask_session"];
    let b64 = |v: &Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    for case in fs["records"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let bytes = b64(&case["record_b64"]);
        let data = decode_record(&bytes).unwrap();
        assert_eq!(encode_record(&data), bytes, "{name}: byte for byte");
    }
    let login = decode_record(&b64(&fs["records"][0]["record_b64"])).unwrap();
    assert_eq!(login.get("_permanent"), Some(&Value::Bool(true)));
    assert!(matches!(
        decode_record(&b64(&fs["pickle_b64"])),
        Err(RecordError::Pickle)
    ));

    let keys = KeyRing::new(SecretKey::new(g["flask_secret"].as_str().unwrap()).unwrap());
    let sid = tessera::SessionId::parse(fs["sid"].as_str().unwrap()).unwrap();
    assert_eq!(sign_id(&keys, &sid), fs["signed_sid"].as_str().unwrap());
    assert_eq!(
        unsign_id(&keys, fs["signed_sid"].as_str().unwrap()).unwrap(),
        (sid, false)
    );
}
