//! `PickledCodec` (Django's cache engines, Flask-Session's filesystem backend) on arbitrary
//! stored bytes, both profiles: an error or a record, never a panic; what decodes, encoded
//! again, decodes to the same record.
#![no_main]

mod common;

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tessera::clock::ManualClock;
use tessera::codec::{PickledCodec, RecordCodec};
use tessera::interop::pickle::MAX_PICKLE_BYTES;
use tessera::{ExpiryPolicy, Profile};
use time::Duration;

fuzz_target!(|data: &[u8]| {
    for (profile, permanent) in [
        (Profile::Django, true),
        (Profile::FlaskSession, false),
        (Profile::FlaskSession, true),
    ] {
        let policy = ExpiryPolicy::new(Duration::days(31), permanent);
        let codec = PickledCodec::new(profile, policy)
            .expect("both profiles pickle")
            .with_clock(Arc::new(ManualClock::new(common::now())));
        for stored in [None, Some(common::now())] {
            if let Ok(record) = codec.decode(data, stored) {
                let again = codec.encode(&record).expect("a decoded record encodes");
                // Memo back-references can make the written pickle longer than the input cap.
                if again.len() <= MAX_PICKLE_BYTES {
                    let back = codec.decode(&again, stored).expect("its bytes decode");
                    assert_eq!(back, record);
                }
            }
        }
    }
});
