//! `FlaskCookieCodec`: an error or a session, never a panic; what decodes, signed again at the
//! same time, decodes to the same dict and session.
//!
//! First byte 0: the rest is the cookie value as a client sends it (the seeds are Flask's own
//! cookies, signed with the golden secret). 1: the rest is the session JSON, written as
//! itsdangerous does and signed here, so the fuzzer reaches the decoder behind the MAC.
//! Otherwise: the first 8 bytes of the rest are the signing time, the remainder the payload,
//! signed verbatim.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use tessera::cookie_session::CookieCodec;
use tessera::interop::flask::{FlaskCookieCodec, SALT};
use tessera::interop::itsdangerous::{dump_payload, ItsSigner};
use tessera::ExpiryPolicy;
use time::Duration;

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = common::mode(data) else {
        return;
    };
    let keys = common::ring(common::FLASK_SECRET);
    let now = common::now();
    let signer = ItsSigner::new(&keys, SALT);
    let value = match mode {
        0 => match std::str::from_utf8(rest) {
            Ok(v) => v.to_owned(),
            Err(_) => return,
        },
        1 => signer.sign_timestamped(&dump_payload(rest), now.unix_timestamp()),
        _ => {
            let Some((ts, payload)) = rest.split_first_chunk::<8>() else {
                return;
            };
            let Ok(payload) = std::str::from_utf8(payload) else {
                return;
            };
            signer.sign_timestamped(payload, i64::from_be_bytes(*ts))
        }
    };
    for permanent in [false, true] {
        let policy = ExpiryPolicy::new(Duration::days(31), permanent);
        let codec = FlaskCookieCodec::new(&keys, policy);
        if let Ok((dict, signed_at, _)) = codec.decode_dict(&value, now) {
            let again = codec.encode_dict(&dict, signed_at);
            let (back, back_at, rotated) =
                codec.decode_dict(&again, now).expect("its cookie decodes");
            assert_eq!((back, back_at, rotated), (dict, signed_at, false));
        }
        if let Ok(decoded) = codec.decode("session", &value, now) {
            let (_, signed_at, _) = codec.decode_dict(&value, now).expect("what decodes loads");
            let again = codec
                .encode("session", &decoded.record, signed_at)
                .expect("a decoded session encodes");
            let back = codec
                .decode("session", &again, now)
                .expect("its cookie decodes");
            assert_eq!(back.record, decoded.record);
        }
    }
});
