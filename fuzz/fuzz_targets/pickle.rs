//! The pickle reader on arbitrary bytes: an error or plain data, never a panic; and what it
//! reads, written back with `dumps`, reads back as the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::interop::pickle::{dumps, dumps_dict, loads, loads_dict, MAX_PICKLE_BYTES};

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = loads(data) {
        let again = dumps(&value).expect("whatever loads reads, dumps writes");
        // Memo back-references can make the written pickle longer than the input cap.
        if again.len() <= MAX_PICKLE_BYTES {
            assert_eq!(loads(&again).expect("dumps' pickle loads"), value);
        }
    }
    if let Ok(dict) = loads_dict(data) {
        let again = dumps_dict(&dict).expect("whatever loads_dict reads, dumps_dict writes");
        if again.len() <= MAX_PICKLE_BYTES {
            assert_eq!(loads_dict(&again).expect("dumps_dict's pickle loads"), dict);
        }
    }
});
