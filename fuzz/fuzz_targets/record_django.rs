//! `DjangoCodec` / `django::decode_session_data` (Django's signed `session_data`) on arbitrary
//! stored bytes: an error or a record, never a panic; what decodes, encoded again, decodes to
//! the same record.
//!
//! First byte 0: the rest is the column's bytes (the seeds are Django's own `session_data`,
//! signed with the golden secret). Otherwise the rest is the `payload:timestamp` part, signed
//! here so the fuzzer reaches the decoder behind the MAC.
#![no_main]

mod common;

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tessera::clock::ManualClock;
use tessera::codec::{DjangoCodec, RecordCodec};
use tessera::interop::django::{decode_session_data, DjangoSigner, SESSION_DATA_SALT};
use tessera::ExpiryPolicy;

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = common::mode(data) else {
        return;
    };
    let keys = common::ring(common::DJANGO_SECRET);
    let now = common::now();
    let bytes = if mode == 0 {
        rest.to_vec()
    } else {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        DjangoSigner::new(&keys, SESSION_DATA_SALT)
            .sign(text)
            .into_bytes()
    };
    if let Ok(text) = std::str::from_utf8(&bytes) {
        if let Ok(record) = decode_session_data(&keys, text, now) {
            let again = tessera::interop::django::encode_session_data(&keys, &record, now);
            assert_eq!(
                decode_session_data(&keys, &again, now).expect("its data decodes"),
                record
            );
        }
    }
    let codec =
        DjangoCodec::new(keys, ExpiryPolicy::default()).with_clock(Arc::new(ManualClock::new(now)));
    for stored in [None, Some(now)] {
        if let Ok(record) = codec.decode(&bytes, stored) {
            let again = codec.encode(&record).expect("a decoded record encodes");
            let back = codec.decode(&again, stored).expect("its bytes decode");
            assert_eq!(back, record);
        }
    }
});
