//! Every cookie decoder on arbitrary input: an error or a session, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::cookie_session::{CookieCodec, CookieFormat, NativeCookieCodec};
use tessera::crypto::{KeyRing, SecretKey};
use tessera::interop::django::DjangoCookieCodec;
use tessera::interop::flask::FlaskCookieCodec;
use tessera::interop::flask_session::unsign_id;
use tessera::ExpiryPolicy;
use time::OffsetDateTime;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(key) = SecretKey::new("fuzzing-secret-key-0123456789abcdefghij") else {
        return;
    };
    let keys = KeyRing::new(key);
    let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let codecs: [Box<dyn CookieCodec>; 4] = [
        Box::new(NativeCookieCodec::new(CookieFormat::Signed, &keys, true)),
        Box::new(NativeCookieCodec::new(CookieFormat::Encrypted, &keys, true)),
        Box::new(FlaskCookieCodec::new(&keys, ExpiryPolicy::default())),
        Box::new(DjangoCookieCodec::new(&keys, ExpiryPolicy::default())),
    ];
    for codec in &codecs {
        let _ = codec.decode("session", value, now);
    }
    let _ = unsign_id(&keys, value);
    let _ = tessera::SessionId::parse(value);
});
