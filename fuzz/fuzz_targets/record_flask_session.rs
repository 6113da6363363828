//! `FlaskSessionCodec` / `flask_session::decode_record` (Flask-Session 0.8's msgpack) on
//! arbitrary stored bytes: an error or a record, never a panic; what decodes, encoded again,
//! decodes to the same dict and record.
#![no_main]

mod common;

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tessera::clock::ManualClock;
use tessera::codec::{FlaskSessionCodec, RecordCodec};
use tessera::interop::flask_session::{decode_record, encode_record};
use tessera::ExpiryPolicy;
use time::Duration;

fuzz_target!(|data: &[u8]| {
    if let Ok(dict) = decode_record(data) {
        let again = encode_record(&dict);
        assert_eq!(
            decode_record(&again).expect("encode_record's bytes decode"),
            dict
        );
    }
    for permanent in [false, true] {
        let policy = ExpiryPolicy::new(Duration::days(31), permanent);
        let codec =
            FlaskSessionCodec::new(policy).with_clock(Arc::new(ManualClock::new(common::now())));
        for stored in [None, Some(common::now())] {
            if let Ok(record) = codec.decode(data, stored) {
                let again = codec.encode(&record).expect("a decoded record encodes");
                let back = codec.decode(&again, stored).expect("its bytes decode");
                assert_eq!(back, record);
            }
        }
    }
});
