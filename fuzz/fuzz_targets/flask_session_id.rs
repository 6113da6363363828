//! Flask-Session's signed session id (`unsign_id`) and `SessionId::parse`: an error or an id,
//! never a panic; an id that unsigns, signed again, unsigns to the same id.
//!
//! First byte 0: the rest is the cookie value as a client sends it (the seed is Flask-Session's
//! own, signed with the golden secret). Otherwise the rest is the id, signed here.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use tessera::interop::flask_session::{sign_id, unsign_id, ID_SALT};
use tessera::interop::itsdangerous::ItsSigner;
use tessera::SessionId;

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = common::mode(data) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let keys = common::ring(common::FLASK_SECRET);
    let value = if mode == 0 {
        text.to_owned()
    } else {
        ItsSigner::new(&keys, ID_SALT).sign(text)
    };
    if let Ok((id, _)) = unsign_id(&keys, &value) {
        let again = sign_id(&keys, &id);
        assert_eq!(
            unsign_id(&keys, &again).expect("sign_id's value unsigns"),
            (id, false)
        );
    }
    if let Ok(id) = SessionId::parse(text) {
        assert_eq!(SessionId::parse(id.expose()).expect("an id parses"), id);
    }
});
