//! Django's signing (`DjangoSigner::loads`) and its `signed_cookies` engine
//! (`DjangoCookieCodec`): an error or a value, never a panic; what loads, dumped again at the
//! same time, loads back the same.
//!
//! First byte 0: the rest is the signed value as a client sends it (the seeds are Django's own
//! cookies and `session_data`, signed with the golden secret). 1: the rest is the
//! `payload:timestamp` part, signed here so the fuzzer reaches the decoder behind the MAC.
//! Otherwise: the first 8 bytes of the rest are the signing time, the remainder the JSON,
//! dumped and signed here.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use tessera::cookie_session::CookieCodec;
use tessera::interop::django::{
    DjangoCookieCodec, DjangoSigner, SESSION_DATA_SALT, SIGNED_COOKIES_SALT,
};
use tessera::ExpiryPolicy;
use time::{Duration, OffsetDateTime};

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = common::mode(data) else {
        return;
    };
    let (stamp, rest) = match (mode, rest.split_first_chunk::<8>()) {
        (0 | 1, _) => (None, rest),
        (_, Some((ts, json))) => (Some(i64::from_be_bytes(*ts)), json),
        (_, None) => return,
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let seal = |signer: &DjangoSigner| match (mode, stamp) {
        (0, _) => text.to_owned(),
        (_, Some(ts)) => signer.dumps_json(text, ts, mode % 2 == 0),
        _ => signer.sign(text),
    };
    let keys = common::ring(common::DJANGO_SECRET);
    let now = common::now();
    for salt in [
        SIGNED_COOKIES_SALT,
        SESSION_DATA_SALT,
        "django.core.signing",
    ] {
        let signer = DjangoSigner::new(&keys, salt);
        let value = seal(&signer);
        if let Ok((json, signed_at, _)) = signer.loads(&value) {
            for compress in [false, true] {
                let again = signer.dumps(&json, signed_at, compress);
                let back = signer.loads(&again).expect("dumps' value loads");
                assert_eq!(back, (json.clone(), signed_at, false));
            }
        }
    }
    // Django's SESSION_COOKIE_AGE, two weeks.
    let policy = ExpiryPolicy::new(Duration::weeks(2), true);
    let codec = DjangoCookieCodec::new(&keys, policy);
    let signer = DjangoSigner::new(&keys, SIGNED_COOKIES_SALT);
    let value = seal(&signer);
    if let Ok(decoded) = codec.decode("sessionid", &value, now) {
        let (_, signed_at, _) = signer.loads_bytes(&value).expect("what decodes loads");
        let signed_at = OffsetDateTime::from_unix_timestamp(signed_at).expect("it decoded");
        let again = codec
            .encode("sessionid", &decoded.record, signed_at)
            .expect("a decoded session encodes");
        let back = codec
            .decode("sessionid", &again, now)
            .expect("its cookie decodes");
        assert_eq!(back.record, decoded.record);
        assert!(!back.rotated);
    }
});
