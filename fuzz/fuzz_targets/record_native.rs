//! `NativeCodec` / `Record::decode` on arbitrary stored bytes, in either form (the binary
//! record, first byte `0x01`, or the JSON of earlier releases, first byte `{`): an error or a
//! record, never a panic; what decodes, encoded again in either form, decodes to the same
//! record.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use tessera::codec::{NativeCodec, RecordCodec};
use tessera::record::BINARY_V1;
use tessera::Record;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = Record::decode(data) {
        let binary = record.encode();
        assert_eq!(binary.first(), Some(&BINARY_V1));
        assert_eq!(
            Record::decode(&binary).expect("encode's bytes decode"),
            record
        );
        assert_eq!(
            Record::decode(&record.encode_json()).expect("encode_json's bytes decode"),
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
