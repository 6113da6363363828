//! `NativeCodec` / `Record::decode` on arbitrary stored bytes: an error or a record, never a
//! panic; what decodes, encoded again, decodes to the same record.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use tessera::codec::{NativeCodec, RecordCodec};
use tessera::Record;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = Record::decode(data) {
        assert_eq!(
            Record::decode(&record.encode()).expect("encode's bytes decode"),
            record
        );
    }
    for stored in [None, Some(common::now())] {
        if let Ok(record) = NativeCodec.decode(data, stored) {
            let again = NativeCodec
                .encode(&record)
                .expect("a decoded record encodes");
            let back = NativeCodec
                .decode(&again, stored)
                .expect("its bytes decode");
            assert_eq!(back, record);
        }
    }
});
