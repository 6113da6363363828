//! JSON written exactly as Python's `json.dumps` writes it with compact separators, so a
//! signature over the bytes matches the one Flask or Django would make.
//!
//! Keys are sorted at every depth when asked ([`Keys::Sorted`], Python's `sort_keys=True`, as
//! Flask writes), or kept in the map's order ([`Keys::AsGiven`], as Django writes: its dicts'
//! insertion order, which a parsed JSON object keeps when `serde_json`'s `preserve_order` is
//! on, and key order otherwise). `ensure_ascii` escapes everything outside printable ASCII as
//! `\uXXXX`, as Python does by default; floats follow Python's `repr` (`1e+16`, `1e-05`,
//! `100.0`).

use std::fmt::Write as _;

use serde_json::{Number, Value};

/// The order object keys are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// Sorted by code point at every depth (`sort_keys=True`).
    Sorted,
    /// In the map's own order.
    AsGiven,
}

/// Whether non-ASCII characters are escaped (`ensure_ascii`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ascii {
    /// Escape everything outside `' '..='~'`, as `json.dumps` does by default.
    Escape,
    /// Write UTF-8 as is, escaping only control characters (`ensure_ascii=False`).
    Keep,
}

/// `json.dumps(value, separators=(",", ":"), sort_keys=…, ensure_ascii=…)`.
///
/// ```
/// use tessera::interop::pyjson::{dumps, Ascii, Keys};
/// use serde_json::json;
///
/// let v = json!({"b": 1e16, "a": "é", "c": [1.0, null, true]});
/// assert_eq!(dumps(&v, Keys::Sorted, Ascii::Escape), r#"{"a":"\u00e9","b":1e+16,"c":[1.0,null,true]}"#);
/// ```
pub fn dumps(value: &Value, keys: Keys, ascii: Ascii) -> String {
    let mut out = String::new();
    Writer { keys, ascii }.value(&mut out, value);
    out
}

/// [`dumps`] of a map's entries, as a JSON object.
pub fn dumps_map<'a>(
    entries: impl IntoIterator<Item = (&'a String, &'a Value)>,
    keys: Keys,
    ascii: Ascii,
) -> String {
    let mut out = String::new();
    Writer { keys, ascii }.object(&mut out, entries);
    out
}

#[derive(Clone, Copy)]
struct Writer {
    keys: Keys,
    ascii: Ascii,
}

impl Writer {
    fn value(self, out: &mut String, value: &Value) {
        let ascii = self.ascii;
        match value {
            Value::Null => out.push_str("null"),
            Value::Bool(true) => out.push_str("true"),
            Value::Bool(false) => out.push_str("false"),
            Value::Number(n) => write_number(out, n),
            Value::String(s) => write_string(out, s, ascii),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.value(out, item);
                }
                out.push(']');
            }
            Value::Object(map) => self.object(out, map),
        }
    }

    fn object<'a>(
        self,
        out: &mut String,
        entries: impl IntoIterator<Item = (&'a String, &'a Value)>,
    ) {
        let mut entries: Vec<_> = entries.into_iter().collect();
        if self.keys == Keys::Sorted {
            // Byte order of UTF-8 is code point order, Python's string order.
            entries.sort_by(|a, b| a.0.cmp(b.0));
        }
        out.push('{');
        for (i, (key, value)) in entries.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_string(out, key, self.ascii);
            out.push(':');
            self.value(out, value);
        }
        out.push('}');
    }
}

fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        write_float(out, f);
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, in fixed notation when the
/// decimal exponent is in `-4..16`, otherwise `d.ddde±XX`.
fn write_float(out: &mut String, f: f64) {
    // `{:e}` gives the shortest round-trip digits: "1.2345e-7", "1e16", "-0e0".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    out.push_str(sign);
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
            out.push_str(&digits);
        } else {
            let point = point as usize;
            if digits.len() <= point {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', point - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
}

fn write_string(out: &mut String, s: &str, ascii: Ascii) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ascii == Ascii::Escape && !(' '..='~').contains(&c) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_follow_python_repr() {
        let cases = [
            (1.0, "1.0"),
            (100.0, "100.0"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e20, "1.2345e+20"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (123456.789, "123456.789"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
        ];
        for (f, python) in cases {
            let mut out = String::new();
            write_float(&mut out, f);
            assert_eq!(out, python, "{f:e}");
        }
    }

    #[test]
    fn strings_escape_like_python() {
        let v = json!("a\"b\\c\n\t\u{1}\u{7f}é😀");
        assert_eq!(
            dumps(&v, Keys::Sorted, Ascii::Escape),
            r#""a\"b\\c\n\t\u0001\u007f\u00e9\ud83d\ude00""#
        );
        assert_eq!(
            dumps(&v, Keys::Sorted, Ascii::Keep),
            "\"a\\\"b\\\\c\\n\\t\\u0001\u{7f}é😀\""
        );
    }

    #[test]
    fn objects_are_compact_and_sorted() {
        let v = json!({"z": {"b": 2, "a": [1, -3, 18446744073709551615u64]}, "a": null});
        assert_eq!(
            dumps(&v, Keys::Sorted, Ascii::Escape),
            r#"{"a":null,"z":{"a":[1,-3,18446744073709551615],"b":2}}"#
        );
    }
}
