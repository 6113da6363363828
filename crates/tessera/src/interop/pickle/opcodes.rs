//! Python's pickle opcodes (protocols 0 to 5), with the names `pickletools` gives them.

macro_rules! opcodes {
    ($($name:ident = $byte:literal,)*) => {
        $(pub(super) const $name: u8 = $byte;)*

        /// Python's name for a known opcode.
        fn known_name(byte: u8) -> Option<&'static str> {
            match byte {
                $($byte => Some(stringify!($name)),)*
                _ => None,
            }
        }

        #[cfg(test)]
        pub(super) const ALL: &[u8] = &[$($byte),*];
    };
}

// The table of `pickletools.opcodes`, in its order.
opcodes! {
    INT = b'I',
    BININT = b'J',
    BININT1 = b'K',
    BININT2 = b'M',
    LONG = b'L',
    LONG1 = 0x8a,
    LONG4 = 0x8b,
    STRING = b'S',
    BINSTRING = b'T',
    SHORT_BINSTRING = b'U',
    BINBYTES = b'B',
    SHORT_BINBYTES = b'C',
    BINBYTES8 = 0x8e,
    BYTEARRAY8 = 0x96,
    NEXT_BUFFER = 0x97,
    READONLY_BUFFER = 0x98,
    NONE = b'N',
    NEWTRUE = 0x88,
    NEWFALSE = 0x89,
    UNICODE = b'V',
    SHORT_BINUNICODE = 0x8c,
    BINUNICODE = b'X',
    BINUNICODE8 = 0x8d,
    FLOAT = b'F',
    BINFLOAT = b'G',
    EMPTY_LIST = b']',
    APPEND = b'a',
    APPENDS = b'e',
    LIST = b'l',
    EMPTY_TUPLE = b')',
    TUPLE = b't',
    TUPLE1 = 0x85,
    TUPLE2 = 0x86,
    TUPLE3 = 0x87,
    EMPTY_DICT = b'}',
    DICT = b'd',
    SETITEM = b's',
    SETITEMS = b'u',
    EMPTY_SET = 0x8f,
    ADDITEMS = 0x90,
    FROZENSET = 0x91,
    POP = b'0',
    DUP = b'2',
    MARK = b'(',
    POP_MARK = b'1',
    GET = b'g',
    BINGET = b'h',
    LONG_BINGET = b'j',
    PUT = b'p',
    BINPUT = b'q',
    LONG_BINPUT = b'r',
    MEMOIZE = 0x94,
    EXT1 = 0x82,
    EXT2 = 0x83,
    EXT4 = 0x84,
    GLOBAL = b'c',
    STACK_GLOBAL = 0x93,
    REDUCE = b'R',
    BUILD = b'b',
    INST = b'i',
    OBJ = b'o',
    NEWOBJ = 0x81,
    NEWOBJ_EX = 0x92,
    PROTO = 0x80,
    STOP = b'.',
    FRAME = 0x95,
    PERSID = b'P',
    BINPERSID = b'Q',
}

macro_rules! unknown_row {
    ($hi:literal) => {
        [
            concat!("unknown opcode 0x", $hi, "0"),
            concat!("unknown opcode 0x", $hi, "1"),
            concat!("unknown opcode 0x", $hi, "2"),
            concat!("unknown opcode 0x", $hi, "3"),
            concat!("unknown opcode 0x", $hi, "4"),
            concat!("unknown opcode 0x", $hi, "5"),
            concat!("unknown opcode 0x", $hi, "6"),
            concat!("unknown opcode 0x", $hi, "7"),
            concat!("unknown opcode 0x", $hi, "8"),
            concat!("unknown opcode 0x", $hi, "9"),
            concat!("unknown opcode 0x", $hi, "a"),
            concat!("unknown opcode 0x", $hi, "b"),
            concat!("unknown opcode 0x", $hi, "c"),
            concat!("unknown opcode 0x", $hi, "d"),
            concat!("unknown opcode 0x", $hi, "e"),
            concat!("unknown opcode 0x", $hi, "f"),
        ]
    };
}

// Errors carry a `&'static str`, so every byte that is no opcode has a name too.
const UNKNOWN: [[&str; 16]; 16] = [
    unknown_row!("0"),
    unknown_row!("1"),
    unknown_row!("2"),
    unknown_row!("3"),
    unknown_row!("4"),
    unknown_row!("5"),
    unknown_row!("6"),
    unknown_row!("7"),
    unknown_row!("8"),
    unknown_row!("9"),
    unknown_row!("a"),
    unknown_row!("b"),
    unknown_row!("c"),
    unknown_row!("d"),
    unknown_row!("e"),
    unknown_row!("f"),
];

/// The opcode's name as Python's `pickletools` spells it (`"GLOBAL"`), or `"unknown opcode
/// 0x9f"` for a byte that is no opcode.
pub(super) fn name(byte: u8) -> &'static str {
    known_name(byte).unwrap_or(UNKNOWN[usize::from(byte >> 4)][usize::from(byte & 0x0f)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_every_opcode_once_with_its_name() {
        assert_eq!(ALL.len(), 68, "pickletools lists 68 opcodes");
        let mut seen = std::collections::HashSet::new();
        for &byte in ALL {
            assert!(seen.insert(byte), "{byte:#x} twice");
        }
        assert_eq!(name(b'c'), "GLOBAL");
        assert_eq!(name(0x95), "FRAME");
        assert_eq!(name(0x00), "unknown opcode 0x00");
        assert_eq!(name(0x9f), "unknown opcode 0x9f");
        assert_eq!(name(0xff), "unknown opcode 0xff");
        for byte in 0..=255u8 {
            assert_eq!(known_name(byte).is_some(), ALL.contains(&byte));
        }
    }
}
