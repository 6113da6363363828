//! The pickle module's tests: golden vectors from CPython, the refusals, the caps, round trips.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::error::Location;
use super::load::MAX_MEMO_ENTRIES;
use super::opcodes::{self as op, name};
use super::*;

fn b64(text: &Value) -> Vec<u8> {
    STANDARD.decode(text.as_str().unwrap()).unwrap()
}

fn golden_pickles() -> Vec<(String, Vec<u8>, Value)> {
    let golden = crate::codec::tests::golden();
    golden["pickle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            (
                case["name"].as_str().unwrap().to_owned(),
                b64(&case["pickle_b64"]),
                case["json"].clone(),
            )
        })
        .collect()
}

#[test]
fn golden_pickles_decode_to_their_json() {
    let cases = golden_pickles();
    assert!(cases.len() > 100, "{}", cases.len());
    for protocol in 0..=5 {
        assert!(
            cases
                .iter()
                .any(|(name, ..)| name.ends_with(&format!("protocol {protocol}"))),
            "no golden vector at protocol {protocol}"
        );
    }
    for (name, bytes, expected) in &cases {
        let got = loads(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&got, expected, "{name}");
        // And back through tessera's writer.
        let again = dumps(&got).unwrap_or_else(|e| panic!("{name}: dumps: {e}"));
        assert_eq!(&loads(&again).unwrap(), expected, "{name}: loads(dumps(v))");
    }
}

#[test]
fn golden_memo_and_frames_are_exercised() {
    // The vectors must hold what the decoder is for: memo back-references and frames.
    let cases = golden_pickles();
    let has = |code: u8| cases.iter().any(|(_, bytes, _)| bytes.contains(&code));
    for code in [
        op::FRAME,
        op::MEMOIZE,
        op::BINGET,
        op::BINPUT,
        op::GET,
        op::PUT,
        op::LONG1,
    ] {
        assert!(has(code), "no golden vector has {}", name(code));
    }
}

#[test]
fn golden_framework_records_read_as_session_data() {
    let golden = crate::codec::tests::golden();
    let mut seen = 0;
    for case in golden["pickle"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if !(name.starts_with("django 5.2") || name.starts_with("cachelib")) {
            continue;
        }
        seen += 1;
        let bytes = b64(&case["pickle_b64"]);
        if let Some(expected) = case["json"].as_object().filter(|m| !m.contains_key(" b")) {
            let data = loads_dict(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(data.len(), expected.len(), "{name}");
            for (key, value) in expected {
                assert_eq!(&data[key], value, "{name}: {key}");
            }
            assert_eq!(loads_dict(&dumps_dict(&data).unwrap()).unwrap(), data);
        } else {
            // Flask-Session 0.8 keeps msgpack bytes in cachelib's file.
            assert!(matches!(
                loads_dict(&bytes),
                Err(PickleError::NotADict { found: "bytes" })
            ));
        }
        if let Some(file) = case.get("file_b64") {
            // The file is a 4-byte expiry header (0: no expiry), then the pickle.
            let file = b64(file);
            assert_eq!(&file[..4], &[0, 0, 0, 0]);
            assert_eq!(file[4..], bytes[..]);
        }
    }
    assert_eq!(seen, 3);
}

#[test]
fn golden_refused_pickles_name_their_opcode_and_offset() {
    let golden = crate::codec::tests::golden();
    let cases = golden["pickle_refused"].as_array().unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let opcode = case["opcode"].as_str().unwrap();
        let offset = case["offset"].as_u64().unwrap() as usize;
        let err = loads(&b64(&case["pickle_b64"])).unwrap_err();
        assert_eq!(err.opcode(), Some(opcode), "{name}: {err}");
        assert_eq!(err.offset(), Some(offset), "{name}: {err}");
        if case["unrepresentable"].as_bool().unwrap() {
            assert!(
                matches!(err, PickleError::Unrepresentable { .. }),
                "{name}: {err:?}"
            );
        } else {
            assert!(
                matches!(err, PickleError::Refused { opcode: o, offset: at } if o == opcode && at == offset),
                "{name}: {err:?}"
            );
        }
        let place = if matches!(err, PickleError::Refused { .. }) {
            format!("{opcode} at byte {offset}")
        } else {
            format!("at byte {offset} ({opcode})")
        };
        assert!(err.to_string().contains(&place), "{err}");
        assert!(loads_dict(&b64(&case["pickle_b64"])).is_err());
    }
}

/// The opcodes tessera runs (FROZENSET and BYTEARRAY8 are plain but unrepresentable).
const ALLOWED: &[u8] = &[
    op::PROTO,
    op::FRAME,
    op::STOP,
    op::MARK,
    op::POP,
    op::POP_MARK,
    op::DUP,
    op::PUT,
    op::BINPUT,
    op::LONG_BINPUT,
    op::MEMOIZE,
    op::GET,
    op::BINGET,
    op::LONG_BINGET,
    op::NONE,
    op::NEWTRUE,
    op::NEWFALSE,
    op::INT,
    op::BININT,
    op::BININT1,
    op::BININT2,
    op::LONG,
    op::LONG1,
    op::LONG4,
    op::FLOAT,
    op::BINFLOAT,
    op::STRING,
    op::BINSTRING,
    op::SHORT_BINSTRING,
    op::UNICODE,
    op::BINUNICODE,
    op::SHORT_BINUNICODE,
    op::BINUNICODE8,
    op::BINBYTES,
    op::SHORT_BINBYTES,
    op::BINBYTES8,
    op::EMPTY_LIST,
    op::APPEND,
    op::APPENDS,
    op::LIST,
    op::EMPTY_DICT,
    op::SETITEM,
    op::SETITEMS,
    op::DICT,
    op::EMPTY_TUPLE,
    op::TUPLE,
    op::TUPLE1,
    op::TUPLE2,
    op::TUPLE3,
    op::EMPTY_SET,
    op::ADDITEMS,
];

#[test]
fn every_other_byte_is_refused_by_name_at_its_offset() {
    let mut refused = 0;
    for byte in 0..=255u8 {
        // PROTO 4, NONE, the byte, then what an argument might read.
        let mut input = vec![op::PROTO, 4, op::NONE, byte];
        input.extend([0u8; 9]);
        input.push(op::STOP);
        let result = loads(&input);
        if ALLOWED.contains(&byte) {
            // Whatever its zero arguments make of it, the byte itself is run.
            assert!(
                !matches!(result, Err(PickleError::Refused { offset: 3, .. })),
                "{} refused: {result:?}",
                name(byte)
            );
            continue;
        }
        let err = result.unwrap_err();
        if byte == op::FROZENSET || byte == op::BYTEARRAY8 {
            assert!(
                matches!(err, PickleError::Unrepresentable { .. }),
                "{err:?}"
            );
            assert_eq!((err.opcode(), err.offset()), (Some(name(byte)), Some(3)));
            continue;
        }
        refused += 1;
        assert!(
            matches!(err, PickleError::Refused { opcode, offset: 3 } if opcode == name(byte)),
            "{byte:#04x}: {err:?}"
        );
    }
    // 256 bytes, 51 run, 2 unrepresentable.
    assert_eq!(refused, 256 - ALLOWED.len() - 2);
    assert_eq!(
        loads(b"\x80\x02cos\nsystem\n").unwrap_err().to_string(),
        "the pickle calls for GLOBAL at byte 2, which plain data never needs; tessera only reads plain data"
    );
    assert_eq!(
        loads(b"N\xff").unwrap_err().to_string(),
        "the pickle calls for unknown opcode 0xff at byte 1, which plain data never needs; tessera only reads plain data"
    );
}

#[test]
fn refused_before_anything_is_built_with_it() {
    // REDUCE with nothing to call: still REDUCE, not an underflow.
    assert!(matches!(
        loads(b"R."),
        Err(PickleError::Refused {
            opcode: "REDUCE",
            offset: 0
        })
    ));
    // GLOBAL without its argument: refused, not truncated.
    assert!(matches!(
        loads(b"c"),
        Err(PickleError::Refused {
            opcode: "GLOBAL",
            offset: 0
        })
    ));
    // BUILD after a valid prefix.
    assert!(matches!(
        loads(b"}N(b"),
        Err(PickleError::Refused {
            opcode: "BUILD",
            offset: 3
        })
    ));
}

#[test]
fn every_prefix_of_a_pickle_is_truncated_never_a_panic() {
    let mut checked = 0;
    for (name, bytes, _) in golden_pickles() {
        if bytes.len() > 700 {
            continue;
        }
        checked += 1;
        for len in 0..bytes.len() {
            let err = loads(&bytes[..len]).expect_err(&name);
            assert!(
                matches!(err, PickleError::Truncated { .. }),
                "{name}[..{len}]: {err:?}"
            );
            assert!(loads_dict(&bytes[..len]).is_err());
        }
    }
    assert!(checked > 50, "{checked}");
}

#[test]
fn malformed_pickles_say_what_and_where() {
    let malformed = |input: &[u8], opcode: &str, offset: usize| {
        let err = loads(input).unwrap_err();
        assert!(
            matches!(&err, PickleError::Malformed { opcode: o, offset: at, .. } if *o == opcode && *at == offset),
            "{input:?}: {err:?}"
        );
        assert!(
            err.to_string()
                .contains(&format!("at byte {offset} ({opcode})")),
            "{err}"
        );
    };
    malformed(b"N.x", "STOP", 1);
    malformed(b".", "STOP", 0);
    malformed(b"a.", "APPEND", 0);
    malformed(b"NNa.", "APPEND", 2);
    malformed(b"e.", "APPENDS", 0);
    malformed(b"(e.", "APPENDS", 1);
    malformed(b"N(2.", "DUP", 2);
    malformed(b"0.", "POP", 0);
    malformed(b"N(000.", "POP", 4);
    malformed(b"}]Ns.", "SETITEM", 3);
    malformed(b"}(Nu.", "SETITEMS", 3);
    malformed(b"(Nd.", "DICT", 2);
    malformed(b"\x8f(]\x90.", "ADDITEMS", 3);
    malformed(b"](N\x90.", "ADDITEMS", 3);
    malformed(b"I010\n.", "INT", 0);
    malformed(b"I0x10\n.", "INT", 0);
    malformed(b"I 1\n.", "INT", 0);
    malformed(b"L1.5\n.", "LONG", 0);
    malformed(b"Fone\n.", "FLOAT", 0);
    malformed(b"Sabc\n.", "STRING", 0);
    malformed(b"S'a\\x4'\n.", "STRING", 0);
    malformed(b"T\xff\xff\xff\xff.", "BINSTRING", 0);
    malformed(b"\x8b\xff\xff\xff\xff.", "LONG4", 0);
    malformed(b"X\x01\x00\x00\x00\xff.", "BINUNICODE", 0);
    malformed(b"V\\u12\n.", "UNICODE", 0);
    malformed(b"g0\n.", "GET", 0);
    malformed(b"N\x80\x06.", "PROTO", 1);
    malformed(b"p1\n.", "PUT", 0);
    malformed(b"Np-1\n.", "PUT", 1);
    malformed(b"Np99999999999999999999999\n.", "PUT", 1);
    malformed(b"N\x85\x85\x85(\x86.", "TUPLE2", 5);

    let truncated = |input: &[u8], opcode: Option<&str>, offset: usize| {
        let err = loads(input).unwrap_err();
        assert!(
            matches!(&err, PickleError::Truncated { opcode: o, offset: at } if *o == opcode && *at == offset),
            "{input:?}: {err:?}"
        );
    };
    truncated(b"", None, 0);
    truncated(b"N", None, 1);
    truncated(b"\x95\x02\x00\x00\x00\x00\x00\x00\x00N", Some("FRAME"), 0);
    truncated(
        b"\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00N.",
        Some("FRAME"),
        2,
    );
    truncated(b"\x8b\xff\xff\xff\x7f.", Some("LONG4"), 0);
    truncated(
        b"\x8d\xff\xff\xff\xff\xff\xff\xff\xff.",
        Some("BINUNICODE8"),
        0,
    );
    truncated(
        b"\x8e\x00\x00\x00\x00\x00\x00\x00\x80.",
        Some("BINBYTES8"),
        0,
    );
    truncated(b"X\xff\xff\xff\xff.", Some("BINUNICODE"), 0);
    truncated(b"I12", Some("INT"), 0);
    let err = loads(b"N").unwrap_err().to_string();
    assert!(err.contains("byte 1") && err.contains("no STOP"), "{err}");
}

#[test]
fn what_python_accepts_loosely_tessera_reads_the_same() {
    // CPython's C unpickler on each of these (checked with Python 3.11).
    let cases: &[(&[u8], Value)] = &[
        (b"I01\n.", json!(true)),
        (b"I00\n.", json!(false)),
        (b"I-0\n.", json!(false)),
        (b"I+1\n.", json!(true)),
        (b"I10\n.", json!(10)),
        (
            b"I-12345678901234567890123\n.",
            json!({" i": "-12345678901234567890123"}),
        ),
        (b"L12L\n.", json!(12)),
        (b"L-0\n.", json!(0)),
        (b"\x8a\x00.", json!(0)),
        (b"\x8a\x02\x00\xff.", json!(-256)),
        (b"NN.", json!(null)),
        (b"(N.", json!(null)),
        (b"(0N.", json!(null)),
        (b"N(e.", json!(null)),
        (b"N(u.", json!(null)),
        (b"(]l.", json!([[]])),
        (b"\x80\x05N\x80\x02.", json!(null)),
        (b"\x95\x02\x00\x00\x00\x00\x00\x00\x00N.", json!(null)),
        (b"Np0\n\x94h\x01.", json!(null)),
        (b"Fnan\n.", json!(null)),
    ];
    for (input, expected) in cases {
        if input.starts_with(b"Fnan") {
            let err = loads(input).unwrap_err();
            assert!(
                matches!(err, PickleError::Unrepresentable { .. }),
                "{err:?}"
            );
            continue;
        }
        assert_eq!(
            &loads(input).unwrap_or_else(|e| panic!("{input:?}: {e}")),
            expected,
            "{input:?}"
        );
    }
}

#[test]
fn unrepresentable_values_are_named_where_they_are() {
    let unrepresentable = |input: &[u8], opcode: &str, offset: usize, what: &str| {
        let err = loads(input).unwrap_err();
        assert!(
            matches!(&err, PickleError::Unrepresentable { what: w, at: Location::Byte { offset: at, opcode: o } }
                if w.contains(what) && *o == opcode && *at == offset),
            "{input:?}: {err:?}"
        );
        assert!(err.to_string().contains("cannot hold"), "{err}");
    };
    unrepresentable(b"}K\x01Ns.", "SETITEM", 4, "not a str");
    unrepresentable(b"}(\x8c\x01aNK\x01Nu.", "SETITEMS", 9, "not a str");
    unrepresentable(b"}N\x85Ns.", "SETITEM", 4, "not a str");
    unrepresentable(b"G\x7f\xf8\x00\x00\x00\x00\x00\x00.", "BINFLOAT", 0, "NaN");
    unrepresentable(
        b"G\xff\xf0\x00\x00\x00\x00\x00\x00.",
        "BINFLOAT",
        0,
        "infinite",
    );
    unrepresentable(b"Finf\n.", "FLOAT", 0, "infinite");
    unrepresentable(b"F1e500\n.", "FLOAT", 0, "infinite");
    unrepresentable(
        b"X\x03\x00\x00\x00\xed\xa0\x80.",
        "BINUNICODE",
        0,
        "surrogate",
    );
    unrepresentable(b"Vab\\ud800\n.", "UNICODE", 0, "surrogate");
    unrepresentable(b"S'\\xe9'\n.", "STRING", 0, "not ASCII");
    unrepresentable(b"U\x01\xe9.", "SHORT_BINSTRING", 0, "not ASCII");
    unrepresentable(b"N(\x91.", "FROZENSET", 2, "frozenset");
    unrepresentable(
        b"\x96\x00\x00\x00\x00\x00\x00\x00\x00.",
        "BYTEARRAY8",
        0,
        "bytearray",
    );
}

/// `n` containers, each holding the next: `]` n times, then `a` n times.
fn nested_lists(n: usize) -> Vec<u8> {
    let mut bytes = vec![op::PROTO, 4, op::NONE];
    bytes.extend(std::iter::repeat_n(op::EMPTY_LIST, n));
    bytes.push(op::NONE);
    bytes.push(op::APPEND);
    bytes.extend(std::iter::repeat_n(op::APPEND, n - 1));
    bytes.push(op::STOP);
    bytes
}

#[test]
fn nesting_is_capped_without_recursing() {
    // MAX_DEPTH lists is fine, one more is too deep.
    let fine = loads(&nested_lists(MAX_DEPTH)).unwrap();
    let mut v = &fine;
    for _ in 0..MAX_DEPTH {
        v = &v[0];
    }
    assert!(v.is_null());
    assert!(matches!(
        loads(&nested_lists(MAX_DEPTH + 1)),
        Err(PickleError::TooDeep { .. })
    ));

    // 100k nested lists, built from bytes: too deep, no stack overflow (nor on drop).
    let err = loads(&nested_lists(100_000)).unwrap_err();
    let PickleError::TooDeep {
        at: Location::Path(path),
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(path, &format!("${}", "[0]".repeat(MAX_DEPTH)));
    // 100k nested tuples through TUPLE1, and dicts through SETITEM.
    let mut tuples = vec![op::NONE];
    tuples.extend(std::iter::repeat_n(op::TUPLE1, 100_000));
    tuples.push(op::STOP);
    assert!(matches!(loads(&tuples), Err(PickleError::TooDeep { .. })));
    let mut dicts = Vec::new();
    dicts.extend(b"}\x8c\x01k".repeat(100_000));
    dicts.push(op::NONE);
    dicts.extend(std::iter::repeat_n(op::SETITEM, 100_000));
    dicts.push(op::STOP);
    assert!(matches!(loads(&dicts), Err(PickleError::TooDeep { .. })));
    // 100k open MARKs (protocol 0's nested tuples): too deep at the MARK past the cap.
    let mut marks = vec![op::MARK; 100_000];
    marks.push(op::STOP);
    let err = loads(&marks).unwrap_err();
    assert_eq!(err.offset(), Some(MAX_DEPTH + 1), "{err}");
    assert!(matches!(err, PickleError::TooDeep { .. }));
}

#[test]
fn a_container_inside_itself_is_too_deep() {
    for input in [
        &b"]2a."[..],
        b"\x80\x04]\x94h\x00a.",
        b"\x80\x04}\x94\x8c\x01k\x94h\x00s.",
        b"\x80\x04]\x94(K\x01h\x00]h\x00ae.",
        b"(lp0\ng0\na.",
    ] {
        let err = loads(input).unwrap_err();
        assert!(
            matches!(err, PickleError::TooDeep { .. }),
            "{input:?}: {err:?}"
        );
        assert!(err.to_string().contains("more than 64 deep at $"), "{err}");
    }
    // A list shared in two places is not a cycle.
    assert_eq!(loads(b"\x80\x04](]\x94h\x00e.").unwrap(), json!([[], []]));
}

#[test]
fn memo_bombs_are_too_large() {
    // A 1 MiB str, referenced 100 times in a list, that list doubled 20 times over.
    let mut bomb = b"\x80\x04X\x00\x00\x10\x00".to_vec();
    bomb.extend(std::iter::repeat_n(b'a', 1 << 20));
    bomb.extend(b"\x94](");
    bomb.extend(b"h\x00".repeat(100));
    bomb.extend(b"e\x94");
    for level in 1..=20u8 {
        // [L, L], memoized at `level + 1`.
        bomb.extend([b']', b'(', b'h', level, b'h', level, b'e', 0x94]);
    }
    bomb.push(op::STOP);
    let started = std::time::Instant::now();
    let err = loads(&bomb).unwrap_err();
    assert!(
        matches!(
            err,
            PickleError::TooLarge {
                limit: MAX_EXPANDED_BYTES,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("at $[0][0]"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    // A tiny list doubled 60 times: 2^60 items from 500 bytes.
    let mut doubling = b"\x80\x04]K\x01a\x94".to_vec();
    for level in 0..60u8 {
        doubling.extend([b']', b'(', b'h', level, b'h', level, b'e', 0x94]);
    }
    doubling.push(op::STOP);
    assert!(matches!(
        loads(&doubling),
        Err(PickleError::TooLarge { .. })
    ));

    // What building alone would spend is charged as it is built.
    let mut nones = vec![op::NONE; MAX_EXPANDED_BYTES / 32 + 1];
    nones.push(op::STOP);
    let err = loads(&nones).unwrap_err();
    assert!(
        matches!(
            &err,
            PickleError::TooLarge {
                at: Location::Byte { opcode: "NONE", .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn memo_indices_are_keys_not_sizes() {
    // CPython sizes its memo array by the index and fails with MemoryError here.
    assert_eq!(
        loads(b"Nr\xff\xff\xff\xffj\xff\xff\xff\xff.").unwrap(),
        json!(null)
    );
    assert_eq!(
        loads(b"Np18446744073709551615\ng18446744073709551615\n.").unwrap(),
        json!(null)
    );
    // MEMOIZE numbers entries by the memo's size, as CPython does.
    assert_eq!(
        loads(b"\x8c\x01ar\x05\x00\x00\x00\x8c\x01b\x94h\x01.").unwrap(),
        json!("b")
    );
    // The entry count is capped; overwriting one index is free.
    let mut many = vec![op::NONE];
    many.extend(std::iter::repeat_n(op::MEMOIZE, MAX_MEMO_ENTRIES));
    many.push(op::STOP);
    assert_eq!(loads(&many).unwrap(), json!(null));
    let mut too_many = many.clone();
    too_many.insert(1, op::MEMOIZE);
    let err = loads(&too_many).unwrap_err();
    assert!(
        matches!(
            err,
            PickleError::TooLarge {
                limit: MAX_MEMO_ENTRIES,
                ..
            }
        ),
        "{err:?}"
    );
    let mut same = vec![op::NONE];
    same.extend(b"q\x07".repeat(MAX_MEMO_ENTRIES + 10));
    same.push(op::STOP);
    assert_eq!(loads(&same).unwrap(), json!(null));
}

#[test]
fn input_and_int_sizes_are_capped() {
    let err = loads(&vec![op::NONE; MAX_PICKLE_BYTES + 1]).unwrap_err();
    assert!(matches!(
        err,
        PickleError::TooLarge {
            limit: MAX_PICKLE_BYTES,
            at: Location::Input,
            ..
        }
    ));
    // 4300 digits is CPython's own limit; 4301 is too large, in text or in bytes.
    let digits = "9".repeat(4300);
    assert_eq!(
        loads(format!("L{digits}\n.").as_bytes()).unwrap(),
        json!({" i": digits})
    );
    let err = loads(format!("L{digits}9\n.").as_bytes()).unwrap_err();
    assert!(
        matches!(err, PickleError::TooLarge { limit: 4300, .. }),
        "{err:?}"
    );
    let mut long4 = b"\x8b\x00\x08\x00\x00".to_vec();
    long4.extend(vec![0x55; 2048]);
    long4.push(op::STOP);
    let err = loads(&long4).unwrap_err();
    assert!(
        matches!(
            err,
            PickleError::TooLarge {
                at: Location::Byte {
                    opcode: "LONG4",
                    offset: 0
                },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn loads_dict_takes_dicts_only_and_keeps_top_keys() {
    // {" t": (1,)}: loads escapes the lone tag key, loads_dict keeps it (a session key).
    let bytes = b"\x80\x04}\x8c\x02 tK\x01\x85s.";
    assert_eq!(loads(bytes).unwrap(), json!({" di": {" t__": {" t": [1]}}}));
    let data = loads_dict(bytes).unwrap();
    assert_eq!(
        Value::Object(data.clone().into_iter().collect()),
        json!({" t": {" t": [1]}})
    );
    assert_eq!(dumps_dict(&data).unwrap(), bytes);
    for (input, found) in [
        (&b"N."[..], "None"),
        (b"\x88.", "a bool"),
        (b"K\x01.", "an int"),
        (b"G\x00\x00\x00\x00\x00\x00\x00\x00.", "a float"),
        (b"\x8c\x00.", "a str"),
        (b"C\x00.", "bytes"),
        (b"].", "a list"),
        (b").", "a tuple"),
        (b"\x8f.", "a set"),
        (b"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.", "an int"),
    ] {
        let err = loads_dict(input).unwrap_err();
        assert!(
            matches!(err, PickleError::NotADict { found: f } if f == found),
            "{input:?}: {err:?}"
        );
    }
}

#[test]
fn dumps_writes_what_python_writes_for_plain_values() {
    // pickle.dumps(v, 4) without its FRAME and memo opcodes.
    let cases: &[(Value, &[u8])] = &[
        (json!(null), b"N"),
        (json!([true, false]), b"](\x88\x89e"),
        (json!(255), b"K\xff"),
        (json!(256), b"M\x00\x01"),
        (json!(65536), b"J\x00\x00\x01\x00"),
        (json!(-1), b"J\xff\xff\xff\xff"),
        (json!(2147483648u64), b"\x8a\x05\x00\x00\x00\x80\x00"),
        (
            json!(u64::MAX),
            b"\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\x00",
        ),
        (json!(i64::MIN), b"\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80"),
        (
            json!({" i": "18446744073709551616"}),
            b"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01",
        ),
        (json!(1.5), b"G?\xf8\x00\x00\x00\x00\x00\x00"),
        (json!("é"), b"\x8c\x02\xc3\xa9"),
        (json!({" b": "AP8="}), b"C\x02\x00\xff"),
        (json!({" t": []}), b")"),
        (json!({" t": [1, 2, 3, 4]}), b"(K\x01K\x02K\x03K\x04t"),
        (json!({" s": [1]}), b"\x8f(K\x01\x90"),
        (json!({" s": []}), b"\x8f"),
        (json!([1]), b"]K\x01a"),
        (json!({"a": 1}), b"}\x8c\x01aK\x01s"),
        (json!({"b": 2, "a": 1}), b"}(\x8c\x01aK\x01\x8c\x01bK\x02u"),
        (json!({" di": {" t__": 1}}), b"}\x8c\x02 tK\x01s"),
    ];
    for (value, body) in cases {
        let mut expected = vec![op::PROTO, 4];
        expected.extend(*body);
        expected.push(op::STOP);
        assert_eq!(dumps(value).unwrap(), expected, "{value}");
        assert_eq!(&loads(&expected).unwrap(), value);
    }
    let long = "x".repeat(256);
    let pickled = dumps(&json!(long)).unwrap();
    assert_eq!(&pickled[2..7], b"X\x00\x01\x00\x00");
    let big = dumps(&json!({" b": STANDARD.encode(vec![7; 256])})).unwrap();
    assert_eq!(&big[2..7], b"B\x00\x01\x00\x00");
    // Batches of 1000, as Python: 1001 items are APPENDS then APPEND.
    let items: Vec<u32> = (0..1001).map(|_| 0).collect();
    let pickled = dumps(&json!(items)).unwrap();
    assert_eq!(pickled.iter().filter(|&&b| b == op::APPENDS).count(), 1);
    assert_eq!(&pickled[pickled.len() - 4..], b"K\x00a.");
    assert_eq!(loads(&pickled).unwrap(), json!(items));
}

#[test]
fn dumps_refuses_what_has_no_pickle_form() {
    let no_form = |value: Value, path: &str| {
        let err = dumps(&value).unwrap_err();
        assert!(
            matches!(&err, PickleError::NoPickleForm { at: Location::Path(p), .. } if p == path),
            "{value}: {err:?}"
        );
        assert!(err.to_string().contains(&format!("at {path}")), "{err}");
    };
    no_form(json!({" b": "!!"}), "$");
    no_form(json!({" b": "AP8"}), "$");
    no_form(json!({" b": 1}), "$");
    no_form(json!({"x": [{" i": "0x10"}]}), "$[\"x\"][0]");
    no_form(json!({" i": "007"}), "$");
    no_form(json!({" i": "+5"}), "$");
    no_form(json!({" i": "-0"}), "$");
    no_form(json!({" i": 5}), "$");
    no_form(json!({" t": 1}), "$");
    no_form(json!({" s": {"a": 1}}), "$");
    no_form(json!({" s": [1, [1]]}), "$[1]");
    no_form(json!({" s": [{" s": []}]}), "$[0]");
    no_form(json!({" s": [{"a": 1, "b": 2}]}), "$[0]");
    no_form(json!({" s": [{" di": {" t__": 1}}]}), "$[0]");
    no_form(json!({" s": [{" t": [1, [2]]}]}), "$[0]");
    no_form(json!({" di": {"x": 1}}), "$");
    no_form(json!({" di": {" x__": 1}}), "$");
    no_form(json!({" di": {" t__": 1, " b__": 2}}), "$");
    no_form(json!({" di": 1}), "$");
    // A " i" within i64 or u64 is that int.
    assert_eq!(
        dumps(&json!({" i": "5"})).unwrap(),
        dumps(&json!(5)).unwrap()
    );
    // Tuples of hashables hash; a set may hold them, and big ints and bytes.
    let fine = json!({" s": [{" t": [1, {" b": ""}, {" t": []}]}, {" i": "-99999999999999999999"}, null, "a", 1.5]});
    assert_eq!(loads(&dumps(&fine).unwrap()).unwrap(), fine);

    let err = dumps(&json!({" i": "9".repeat(4301)})).unwrap_err();
    assert!(
        matches!(err, PickleError::TooLarge { limit: 4300, .. }),
        "{err:?}"
    );
    let mut deep = json!(1);
    for _ in 0..MAX_DEPTH {
        deep = json!({" t": [deep]});
    }
    assert!(dumps(&deep).is_ok());
    let err = dumps(&json!([deep])).unwrap_err();
    assert!(matches!(err, PickleError::TooDeep { .. }), "{err:?}");
    // Deeper than serde_json would ever parse, built by hand: still only 64 levels walked.
    let mut very_deep = json!(null);
    for _ in 0..10_000 {
        very_deep = Value::Array(vec![very_deep]);
    }
    assert!(matches!(
        dumps(&very_deep),
        Err(PickleError::TooDeep { .. })
    ));
    let mut data = Data::new();
    data.insert("deep".into(), very_deep);
    let err = dumps_dict(&data).unwrap_err();
    assert!(
        matches!(&err, PickleError::TooDeep { at: Location::Path(p) } if p.starts_with("$[\"deep\"][0][0]"))
    );
    // Drop the 10k-deep value without recursing through serde_json's Drop.
    let mut v = data.remove("deep").unwrap();
    while let Value::Array(mut items) = v {
        v = items.pop().unwrap_or(Value::Null);
    }
}

#[test]
fn paths_cut_long_keys() {
    let key = "k".repeat(100);
    let err = dumps(&json!({ key.clone(): {" b": "?"}, "other": 1 })).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("at $[\"{}\"…]", "k".repeat(40))),
        "{msg}"
    );
}

#[test]
fn tagged_values_round_trip() {
    for value in sample_values() {
        let pickled = dumps(&value).unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(
            loads(&pickled).unwrap_or_else(|e| panic!("{value}: {e}")),
            value
        );
        // A top-level " di" is an escape to dumps, a key to dumps_dict: one level more.
        if let Some(map) = value.as_object().filter(|m| !m.contains_key(" di")) {
            let data: Data = map.clone().into_iter().collect();
            assert_eq!(loads_dict(&dumps_dict(&data).unwrap()).unwrap(), data);
        }
    }
}

/// A small deterministic generator (xorshift64*), so the values are the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const KEYS: &[&str] = &[
    "a",
    "user",
    "_auth_user_id",
    "_session_expiry",
    " t",
    " b",
    " i",
    " s",
    " di",
    " x",
    "é✓",
    "😀",
    "",
    "k\0",
    "line\nbreak",
    "back\\slash",
    "__",
    " t__",
];

const STRINGS: &[&str] = &[
    "",
    "ada",
    "Zoë ✓ 😀",
    "\0",
    "\n\r\t\x1a",
    "\\u0041",
    "'quote\"",
    "\u{10ffff}",
    "\u{7f}\u{80}",
    " t",
    "django.contrib.auth.backends.ModelBackend",
];

/// The values the round-trip tests (here, and through real Python) send: edge cases, then
/// a few hundred generated ones. All canonical: what [`loads`] itself would return.
pub(super) fn sample_values() -> Vec<Value> {
    let mut values = vec![
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(255),
        json!(256),
        json!(65535),
        json!(65536),
        json!(i32::MIN),
        json!(i32::MAX),
        json!(i64::from(i32::MAX) + 1),
        json!(i64::MIN),
        json!(i64::MAX),
        json!(u64::MAX),
        json!({" i": "18446744073709551616"}),
        json!({" i": "-9223372036854775809"}),
        json!({" i": format!("1{}", "0".repeat(4299))}),
        json!({" i": format!("-{}", "7".repeat(300))}),
        json!(0.0),
        json!(-0.0),
        json!(5e-324),
        json!(f64::MAX),
        json!(f64::MIN_POSITIVE),
        json!(0.1),
        json!(1e16),
        json!(123456.789),
        json!(""),
        json!("x".repeat(255)),
        json!("x".repeat(256)),
        json!("é".repeat(40_000)),
        json!({" b": ""}),
        json!({" b": STANDARD.encode([0u8, 255])}),
        json!({" b": STANDARD.encode(vec![9u8; 300])}),
        json!([]),
        json!({}),
        json!({" t": []}),
        json!({" s": []}),
        json!({" t": [1]}),
        json!({" t": [1, 2]}),
        json!({" t": [1, 2, 3]}),
        json!({" t": [1, 2, 3, 4, 5]}),
        json!({" di": {" t__": [1]}}),
        json!({" di": {" di__": {" di": {" b__": null}}}}),
        json!({" t": 1, " b": 2}),
        json!({"_auth_user_id": "1", "_auth_user_backend": "django.contrib.auth.backends.ModelBackend", "_auth_user_hash": "9ebcb0a9", "_session_expiry": 300}),
        json!((0..2500).collect::<Vec<_>>()),
        Value::Object((0..1500).map(|i| (format!("k{i}"), json!(i))).collect()),
        json!({" s": (0..1200).map(|i| json!(format!("s{i}"))).collect::<Vec<_>>()}),
    ];
    // Exactly MAX_DEPTH deep, through every kind of container.
    let mut deep = json!("bottom");
    for level in 0..MAX_DEPTH {
        deep = match level % 4 {
            0 => json!([deep]),
            1 => json!({"d": deep}),
            2 => json!({" t": [deep]}),
            _ => json!({" di": {" s__": deep}}),
        };
    }
    values.push(deep);
    let mut rng = Rng(0x7e55_e7a0_91c4_1e5d);
    let mut unique = 0u64;
    for _ in 0..300 {
        values.push(random_value(&mut rng, 0, &mut unique));
    }
    values
}

fn random_value(rng: &mut Rng, depth: usize, unique: &mut u64) -> Value {
    let kinds = if depth >= 6 { 7 } else { 12 };
    match rng.below(kinds) {
        0 => json!(null),
        1 => json!(rng.below(2) == 0),
        2 => match rng.below(4) {
            0 => json!(rng.below(300)),
            1 => json!(rng.next() as i64),
            2 => json!(rng.next()),
            _ => json!(-(rng.below(1 << 40) as i64)),
        },
        3 => {
            // 21 to 60 digits, never zero-led: always past u64.
            let len = 21 + rng.below(40) as usize;
            let mut digits = String::new();
            if rng.below(2) == 0 {
                digits.push('-');
            }
            digits.push(char::from(b'1' + rng.below(9) as u8));
            for _ in 1..len {
                digits.push(char::from(b'0' + rng.below(10) as u8));
            }
            json!({" i": digits})
        }
        4 => loop {
            let f = f64::from_bits(rng.next());
            if f.is_finite() {
                break json!(f);
            }
        },
        5 => {
            let mut s = String::new();
            for _ in 0..rng.below(4) {
                s.push_str(STRINGS[rng.below(STRINGS.len() as u64) as usize]);
            }
            json!(s)
        }
        6 => {
            let bytes: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
            json!({" b": STANDARD.encode(bytes)})
        }
        7 => json!((0..rng.below(6))
            .map(|_| random_value(rng, depth + 1, unique))
            .collect::<Vec<_>>()),
        8 => {
            json!({" t": (0..rng.below(6)).map(|_| random_value(rng, depth + 1, unique)).collect::<Vec<_>>()})
        }
        9 | 10 => {
            let mut map = serde_json::Map::new();
            for _ in 0..rng.below(5) {
                let key = KEYS[rng.below(KEYS.len() as u64) as usize];
                map.insert(key.to_owned(), random_value(rng, depth + 1, unique));
            }
            match map.iter().next() {
                Some((key, value)) if map.len() == 1 && value::TAGS.contains(&key.as_str()) => {
                    json!({" di": {format!("{key}__"): value.clone()}})
                }
                _ => Value::Object(map),
            }
        }
        _ => {
            // Items Python hashes and never finds equal to each other.
            let items = (0..rng.below(6))
                .map(|_| {
                    *unique += 1;
                    let n = *unique;
                    match rng.below(5) {
                        0 => json!(format!("s{n}")),
                        1 => json!(n * 1000 + 7),
                        2 => json!({" b": STANDARD.encode(n.to_le_bytes())}),
                        3 => json!({" i": format!("{n}{}", "0".repeat(30))}),
                        _ => json!({" t": [format!("t{n}"), {" t": [n]}, null]}),
                    }
                })
                .collect::<Vec<_>>();
            json!({" s": items})
        }
    }
}
