//! itsdangerous' payloads (`load_payload`, base64 and zlib): an error or bytes, never a panic;
//! what loads, dumped again, loads back the same; and any bytes dumped load back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::interop::itsdangerous::{dump_payload, load_payload};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(bytes) = load_payload(text) {
            let again = dump_payload(&bytes);
            assert_eq!(
                load_payload(&again).expect("dump_payload's payload loads"),
                bytes
            );
        }
    }
    assert_eq!(
        load_payload(&dump_payload(data)).expect("dump_payload's payload loads"),
        data
    );
});
