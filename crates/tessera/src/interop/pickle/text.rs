//! The text encodings pickle's str opcodes use, decoded as CPython decodes them.

/// Why text could not be read.
#[derive(Debug, Clone, Copy)]
pub(super) enum TextError {
    Malformed(&'static str),
    /// Python would hold it (a lone surrogate), but a Rust `String` cannot.
    Surrogate,
}

/// UTF-8 as Python's unpickler reads it (`surrogatepass`): an encoded surrogate is valid to
/// Python, only unrepresentable here.
pub(super) fn utf8(bytes: &[u8]) -> Result<&str, TextError> {
    std::str::from_utf8(bytes).map_err(|error| {
        let bad = &bytes[error.valid_up_to()..];
        match bad {
            [0xed, 0xa0..=0xbf, 0x80..=0xbf, ..] => TextError::Surrogate,
            _ => TextError::Malformed("a str that is not UTF-8"),
        }
    })
}

/// The `raw-unicode-escape` codec protocol 0's UNICODE uses: Latin-1 bytes, except `\uXXXX`
/// and `\UXXXXXXXX`.
pub(super) fn raw_unicode_escape(bytes: &[u8]) -> Result<String, TextError> {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        i += 1;
        if byte != b'\\' || i == bytes.len() {
            out.push(char::from(byte));
            continue;
        }
        let digits = match bytes[i] {
            b'u' => 4,
            b'U' => 8,
            other => {
                // Not an escape: both characters as they are.
                out.push('\\');
                out.push(char::from(other));
                i += 1;
                continue;
            }
        };
        i += 1;
        let hex = bytes
            .get(i..i + digits)
            .ok_or(TextError::Malformed("a truncated \\u escape"))?;
        let mut code: u32 = 0;
        for &h in hex {
            let digit = char::from(h)
                .to_digit(16)
                .ok_or(TextError::Malformed("a \\u escape with a non-hex digit"))?;
            code = code * 16 + digit;
        }
        i += digits;
        match char::from_u32(code) {
            Some(c) => out.push(c),
            None if (0xd800..=0xdfff).contains(&code) => return Err(TextError::Surrogate),
            None => return Err(TextError::Malformed("a \\U escape past U+10FFFF")),
        }
    }
    Ok(out)
}

/// Python's `codecs.escape_decode`, which protocol 0's STRING uses (the quotes already off).
pub(super) fn escape_decode(bytes: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        i += 1;
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        let Some(&escape) = bytes.get(i) else {
            return Err("a trailing \\ in a STRING");
        };
        i += 1;
        match escape {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(escape),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'a' => out.push(0x07),
            b'0'..=b'7' => {
                let mut code = u32::from(escape - b'0');
                for _ in 0..2 {
                    match bytes.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            code = code * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                // Python keeps the low byte of \400 to \777 (and warns).
                out.push((code & 0xff) as u8);
            }
            b'x' => {
                let hex = |b: u8| char::from(b).to_digit(16);
                let value = match bytes.get(i..i + 2) {
                    Some(&[high, low]) => hex(high).zip(hex(low)),
                    _ => None,
                };
                let (high, low) = value.ok_or("an invalid \\x escape in a STRING")?;
                // Two hex digits make a byte.
                out.push((high * 16 + low) as u8);
                i += 2;
            }
            _ => {
                // Unknown escapes stay as they are (Python warns).
                out.push(b'\\');
                i -= 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_decode_matches_python() {
        // codecs.escape_decode(b"a\\400\\q\\'\\x41") == (b"a\x00\\q'A", ...)
        assert_eq!(escape_decode(b"a\\400\\q\\'\\x41").unwrap(), b"a\x00\\q'A");
        assert_eq!(
            escape_decode(b"\\n\\t\\\\\\101\\7x\\\n").unwrap(),
            b"\n\t\\A\x07x"
        );
        // \777 keeps its low byte: 0xff, not ASCII (so a STRING holding it is refused).
        assert_eq!(escape_decode(b"\\777\\0").unwrap(), b"\xff\x00");
        assert!(escape_decode(b"\\").is_err());
        assert!(escape_decode(b"\\x4").is_err());
        assert!(escape_decode(b"\\x+1").is_err());
    }

    #[test]
    fn raw_unicode_escape_matches_python() {
        // b'\\\\u0041\\u00e9\\x'.decode('raw_unicode_escape') == '\\\\u0041é\\x'
        assert_eq!(
            raw_unicode_escape(b"\\\\u0041\\u00e9\\x").unwrap(),
            "\\\\u0041é\\x"
        );
        assert_eq!(raw_unicode_escape(b"\xe9\\U0001f600\\").unwrap(), "é😀\\");
        assert!(matches!(
            raw_unicode_escape(b"\\ud800"),
            Err(TextError::Surrogate)
        ));
        assert!(matches!(
            raw_unicode_escape(b"\\u00"),
            Err(TextError::Malformed(_))
        ));
        assert!(matches!(
            raw_unicode_escape(b"\\U00110000"),
            Err(TextError::Malformed(_))
        ));
    }

    #[test]
    fn utf8_tells_surrogates_from_garbage() {
        assert!(matches!(utf8(b"a\xed\xa0\x80"), Err(TextError::Surrogate)));
        assert!(matches!(utf8(b"a\xff"), Err(TextError::Malformed(_))));
        assert_eq!(utf8("é".as_bytes()).unwrap(), "é");
    }
}
