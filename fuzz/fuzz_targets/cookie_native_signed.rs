//! `NativeCookieCodec` (signed): an error or a session, never a panic; what decodes, encoded
//! again, decodes to the same session.
//!
//! First byte 0: the rest is the cookie value as a client sends it. 1: the rest is the
//! payload's JSON, signed here so the fuzzer reaches the decoder behind the MAC; 2: the same
//! for raw-deflated JSON (the `.`-prefixed payload).
#![no_main]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use tessera::cookie_session::{CookieCodec, CookieFormat, NativeCookieCodec};
use tessera::crypto::{Purpose, Signer};

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
        1 => Signer::new(&keys, Purpose::SignedCookie).sign(NAME, &URL_SAFE_NO_PAD.encode(rest)),
        _ => Signer::new(&keys, Purpose::SignedCookie)
            .sign(NAME, &format!(".{}", URL_SAFE_NO_PAD.encode(rest))),
    };
    let now = common::now();
    for compress in [false, true] {
        let codec = NativeCookieCodec::new(CookieFormat::Signed, &keys, compress);
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
