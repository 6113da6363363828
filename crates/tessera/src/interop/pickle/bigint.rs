//! Python ints of any size, between pickle's little-endian two's complement bytes (LONG1,
//! LONG4) or decimal text (INT, LONG) and what the JSON mapping holds: a JSON integer when the
//! int fits `i64` or `u64`, its decimal digits otherwise.

/// CPython's default limit on an int's decimal digits (`sys.get_int_max_str_digits()`): Python
/// itself will not print a longer one.
pub(super) const MAX_INT_DIGITS: usize = 4300;

/// Ints of more bytes than this (once sign bytes are trimmed) have more than [`MAX_INT_DIGITS`]
/// digits: 256^1787 > 10^4301.
const MAX_INT_BYTES: usize = 1786;

const CHUNK: u32 = 1_000_000_000;
const CHUNK_DIGITS: usize = 9;

/// An int as the JSON mapping holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Int {
    /// In `i64::MIN..=u64::MAX`: a JSON integer.
    Small(i128),
    /// Outside it: canonical decimal digits (a `-`, then no leading zero).
    Big(String),
}

/// An int with more digits than [`MAX_INT_DIGITS`].
#[derive(Debug)]
pub(super) struct TooManyDigits;

/// Decimal text that is not an int.
#[derive(Debug)]
pub(super) enum DecimalError {
    NotDecimal,
    TooManyDigits,
}

fn small_or_big(value: i128) -> Int {
    if (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&value) {
        Int::Small(value)
    } else {
        Int::Big(value.to_string())
    }
}

/// `int.from_bytes(bytes, "little", signed=True)`: what LONG1 and LONG4 hold.
pub(super) fn from_le_twos(bytes: &[u8]) -> Result<Int, TooManyDigits> {
    let bytes = trim_sign_bytes(bytes);
    let Some(&top) = bytes.last() else {
        return Ok(Int::Small(0));
    };
    let negative = top & 0x80 != 0;
    if bytes.len() <= 16 {
        let mut buf = [if negative { 0xff } else { 0 }; 16];
        buf[..bytes.len()].copy_from_slice(bytes);
        return Ok(small_or_big(i128::from_le_bytes(buf)));
    }
    if bytes.len() > MAX_INT_BYTES {
        return Err(TooManyDigits);
    }
    let mut magnitude = bytes.to_vec();
    if negative {
        negate(&mut magnitude);
    }
    let digits = magnitude_to_decimal(&magnitude);
    if digits.len() > MAX_INT_DIGITS {
        return Err(TooManyDigits);
    }
    Ok(Int::Big(if negative {
        format!("-{digits}")
    } else {
        digits
    }))
}

/// Decimal text: an optional sign, then `0` or digits without a leading zero (Python's C
/// unpickler would read `010` as octal, its pure-Python one refuse it: tessera refuses it).
pub(super) fn from_decimal(text: &[u8]) -> Result<Int, DecimalError> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty()
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits.len() > 1 && digits[0] == b'0')
    {
        return Err(DecimalError::NotDecimal);
    }
    if digits.len() > MAX_INT_DIGITS {
        return Err(DecimalError::TooManyDigits);
    }
    // Checked ASCII digits above.
    let digits = std::str::from_utf8(digits).map_err(|_| DecimalError::NotDecimal)?;
    if digits.len() <= 38 {
        let magnitude: i128 = digits.parse().map_err(|_| DecimalError::NotDecimal)?;
        return Ok(small_or_big(if negative { -magnitude } else { magnitude }));
    }
    Ok(Int::Big(if negative {
        format!("-{digits}")
    } else {
        digits.to_owned()
    }))
}

impl Int {
    /// Python's `pickle.encode_long`: the fewest little-endian two's complement bytes.
    pub(super) fn to_le_twos(&self) -> Vec<u8> {
        let (negative, mut bytes) = match self {
            Self::Small(value) => {
                return trim_sign_bytes(&value.to_le_bytes()).to_vec();
            }
            Self::Big(text) => match text.strip_prefix('-') {
                Some(digits) => (true, decimal_to_magnitude(digits)),
                None => (false, decimal_to_magnitude(text)),
            },
        };
        // Room for the sign bit.
        bytes.push(0);
        if negative {
            negate(&mut bytes);
        }
        trim_sign_bytes(&bytes).to_vec()
    }

    /// The decimal digits, as Python's `str(int)` writes them.
    pub(super) fn to_decimal(&self) -> String {
        match self {
            Self::Small(value) => value.to_string(),
            Self::Big(text) => text.clone(),
        }
    }
}

/// Drops the high bytes that only repeat the sign; `[0]` (zero) becomes empty.
fn trim_sign_bytes(mut bytes: &[u8]) -> &[u8] {
    while let [rest @ .., next, top] = bytes {
        if (*top == 0 && next & 0x80 == 0) || (*top == 0xff && next & 0x80 != 0) {
            bytes = &bytes[..rest.len() + 1];
        } else {
            break;
        }
    }
    if bytes == [0] {
        &[]
    } else {
        bytes
    }
}

/// Two's complement negation in place, little-endian.
fn negate(bytes: &mut [u8]) {
    let mut carry = true;
    for byte in bytes {
        let (sum, overflow) = (!*byte).overflowing_add(u8::from(carry));
        *byte = sum;
        carry = overflow;
    }
}

/// Little-endian magnitude bytes to decimal digits (O(n²), fine below [`MAX_INT_BYTES`]).
fn magnitude_to_decimal(bytes: &[u8]) -> String {
    // Most significant limb first, for long division.
    let mut limbs: Vec<u32> = bytes
        .chunks(4)
        .rev()
        .map(|chunk| {
            let mut buf = [0u8; 4];
            buf[..chunk.len()].copy_from_slice(chunk);
            u32::from_le_bytes(buf)
        })
        .collect();
    let mut chunks = Vec::new();
    while limbs.iter().any(|&limb| limb != 0) {
        let mut rem: u64 = 0;
        for limb in &mut limbs {
            let cur = (rem << 32) | u64::from(*limb);
            // cur / CHUNK < 2^32 because rem < CHUNK: the cast keeps every bit.
            *limb = (cur / u64::from(CHUNK)) as u32;
            rem = cur % u64::from(CHUNK);
        }
        chunks.push(rem);
        while limbs.first() == Some(&0) {
            limbs.remove(0);
        }
    }
    let mut out = String::new();
    for (i, chunk) in chunks.iter().rev().enumerate() {
        if i == 0 {
            out.push_str(&chunk.to_string());
        } else {
            out.push_str(&format!("{chunk:0CHUNK_DIGITS$}"));
        }
    }
    if out.is_empty() {
        out.push('0');
    }
    out
}

/// Decimal digits (already checked) to little-endian magnitude bytes.
fn decimal_to_magnitude(digits: &str) -> Vec<u8> {
    // Least significant limb first.
    let mut limbs: Vec<u32> = Vec::new();
    let bytes = digits.as_bytes();
    let head = bytes.len() % CHUNK_DIGITS;
    let mut groups: Vec<&[u8]> = Vec::new();
    if head > 0 {
        groups.push(&bytes[..head]);
    }
    groups.extend(bytes[head..].chunks(CHUNK_DIGITS));
    for group in groups {
        let mut add: u64 = group
            .iter()
            .fold(0, |acc, d| acc * 10 + u64::from(d.wrapping_sub(b'0')));
        // A group has at most 9 digits.
        let scale = 10u64.pow(group.len() as u32);
        for limb in &mut limbs {
            // < 2^32 * 10^9 + 2^32: fits u64; the low half is the limb, the high half carries.
            let cur = u64::from(*limb) * scale + add;
            *limb = cur as u32;
            add = cur >> 32;
        }
        if add > 0 {
            limbs.push(add as u32);
        }
    }
    limbs.iter().flat_map(|limb| limb.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(text: &str) -> Int {
        from_decimal(text.as_bytes()).unwrap()
    }

    #[test]
    fn bytes_and_decimal_agree_both_ways() {
        // (value, Python's encode_long(value).hex())
        let cases = [
            ("0", ""),
            ("1", "01"),
            ("-1", "ff"),
            ("127", "7f"),
            ("128", "8000"),
            ("-128", "80"),
            ("-129", "7fff"),
            ("255", "ff00"),
            ("-256", "00ff"),
            ("-32768", "0080"),
            ("18446744073709551615", "ffffffffffffffff00"),
            ("-9223372036854775808", "0000000000000080"),
        ];
        for (text, hex) in cases {
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let int = big(text);
            assert_eq!(int.to_le_twos(), bytes, "{text}");
            assert_eq!(from_le_twos(&bytes).unwrap(), int, "{text}");
            assert_eq!(int.to_decimal(), text);
        }
        // 2**64 is the first int past u64: digits.
        let two_64 = big("18446744073709551616");
        assert_eq!(two_64, Int::Big("18446744073709551616".into()));
        assert_eq!(two_64.to_le_twos(), [0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            big("-9223372036854775809"),
            Int::Big("-9223372036854775809".into())
        );
    }

    #[test]
    fn long_ints_round_trip() {
        // 10**k ± 1 and -(10**k), across the i128 and multi-limb paths.
        for k in [19usize, 20, 38, 39, 40, 77, 300, 1000, 4299] {
            for text in [
                format!("1{}", "0".repeat(k)),
                format!("-1{}", "0".repeat(k)),
                "9".repeat(k + 1),
                format!("-{}", "9".repeat(k + 1)),
            ] {
                let int = big(&text);
                assert_eq!(int.to_decimal(), text);
                let bytes = int.to_le_twos();
                assert_eq!(from_le_twos(&bytes).unwrap(), int, "{text}");
                let mut padded = bytes.clone();
                let sign = if text.starts_with('-') { 0xff } else { 0 };
                padded.extend([sign; 5]);
                assert_eq!(
                    from_le_twos(&padded).unwrap(),
                    int,
                    "{text} with sign bytes"
                );
            }
        }
    }

    #[test]
    fn limits_and_malformed_text() {
        assert!(matches!(
            from_decimal("9".repeat(4301).as_bytes()),
            Err(DecimalError::TooManyDigits)
        ));
        assert!(from_decimal("9".repeat(4300).as_bytes()).is_ok());
        // Past 1786 bytes refused unread; at 1786 by the count of digits (0x7f7f… has 4302).
        assert!(from_le_twos(&[0x7f; 1787]).is_err());
        assert!(from_le_twos(&[0x7f; 1786]).is_err());
        assert!(from_le_twos(&[0x01; 1780]).is_ok());
        // A million zero bytes are 0, trimmed before anything is counted.
        assert_eq!(from_le_twos(&vec![0; 1 << 20]).unwrap(), Int::Small(0));
        for bad in ["", "-", "+", "01", "-01", "1_000", " 1", "0x10", "1.0", "١"] {
            assert!(
                matches!(from_decimal(bad.as_bytes()), Err(DecimalError::NotDecimal)),
                "{bad:?}"
            );
        }
        assert_eq!(from_decimal(b"+5").unwrap(), Int::Small(5));
        assert_eq!(from_decimal(b"-0").unwrap(), Int::Small(0));
    }
}
