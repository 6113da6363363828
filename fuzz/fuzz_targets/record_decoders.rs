//! Every stored-record decoder on arbitrary bytes: an error or a record, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::crypto::{KeyRing, SecretKey};
use tessera::interop::django::decode_session_data;
use tessera::interop::flask_session::decode_record;
use tessera::Record;
use time::OffsetDateTime;

fuzz_target!(|data: &[u8]| {
    let _ = Record::decode(data);
    let _ = decode_record(data);
    if let (Ok(text), Ok(key)) = (
        std::str::from_utf8(data),
        SecretKey::new("fuzzing-secret-key-0123456789abcdefghij"),
    ) {
        let _ = decode_session_data(&KeyRing::new(key), text, OffsetDateTime::UNIX_EPOCH);
    }
});
