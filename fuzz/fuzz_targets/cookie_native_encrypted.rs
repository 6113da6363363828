//! `NativeCookieCodec` (encrypted): an error or a session, never a panic; what decodes,
//! encoded again, decodes to the same session.
//!
//! First byte 0: the rest is the cookie value as a client sends it. Otherwise the rest is the
//! plaintext (flag byte, then JSON or raw deflate), sealed here so the fuzzer reaches the
//! decoder behind the AEAD.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use tessera::cookie_session::{CookieCodec, CookieFormat, NativeCookieCodec};
use tessera::crypto::Sealer;

const NAME: &str = "session";

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = common::mode(data) else {
        return;
    };
    let keys = common::ring(common::FLASK_SECRET);
    let value = match mode {
        0 => match std::str::from_utf8(rest) {
            Ok(v) => v.to_owned(),
            Err(_) => return,
        },
        _ => match Sealer::new(&keys).seal(NAME, rest) {
            Ok(v) => v,
            Err(_) => return,
        },
    };
    let now = common::now();
    for compress in [false, true] {
        let codec = NativeCookieCodec::new(CookieFormat::Encrypted, &keys, compress);
        if let Ok(decoded) = codec.decode(NAME, &value, now) {
            let again = codec
                .encode(NAME, &decoded.record, now)
                .expect("a decoded session encodes");
            let back = codec.decode(NAME, &again, now).expect("its cookie decodes");
            assert_eq!(back.record, decoded.record);
            assert!(!back.rotated, "re-encoded under the current key");
        }
    }
});
