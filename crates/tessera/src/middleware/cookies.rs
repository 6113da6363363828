//! Reading our cookie from `Cookie` headers and writing `Set-Cookie` headers.

use cookie::{Cookie, Expiration};
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use time::{Duration, OffsetDateTime};

use crate::config::{CookieSettings, MAX_COOKIE_SIZE};

/// The value of the first cookie called `name` in the request's `Cookie` headers (browsers send
/// one; HTTP/2 may split it). Browsers send the most specific path first, which is the one a
/// session belongs to.
///
/// Read only when a handler asks for the session, borrowed from the headers: no allocation.
pub(crate) fn find<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .find_map(|header| find_in(header.as_bytes(), name.as_bytes()))
}

/// The value of the first cookie called `name` in one `Cookie` header: `;`-separated
/// `name=value` pairs, spaces and tabs around names and values ignored, double quotes around the
/// value removed. Scanned as bytes: a cookie of another application holding bytes that are not
/// visible ASCII does not hide ours.
fn find_in<'a>(header: &'a [u8], name: &[u8]) -> Option<&'a str> {
    let mut rest = header;
    loop {
        // memchr: a session cookie is tens to thousands of bytes long.
        let (pair, next) = match memchr::memchr(b';', rest) {
            Some(end) => (&rest[..end], Some(&rest[end + 1..])),
            None => (rest, None),
        };
        if let Some(value) = value_in(pair, name) {
            return Some(value);
        }
        rest = next?;
    }
}

/// The value of one `name=value` pair if it is called `name` and its value is UTF-8.
fn value_in<'a>(pair: &'a [u8], name: &[u8]) -> Option<&'a str> {
    let rest = pair.trim_ascii_start().strip_prefix(name)?;
    let mut value = rest.trim_ascii_start().strip_prefix(b"=")?.trim_ascii();
    while let [b'"', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b'"'] = value {
        value = rest;
    }
    std::str::from_utf8(value).ok()
}

/// Why a `Set-Cookie` could not be made.
#[derive(Debug)]
pub(crate) enum SetCookieError {
    /// Over the browser size limit.
    Oversized(usize),
    /// The value holds bytes a cookie cannot carry unquoted.
    BadValue,
}

/// `Set-Cookie` for `value`; `expires` `None` makes a browser-session cookie.
pub(crate) fn set(
    settings: &CookieSettings,
    value: &str,
    expires: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<HeaderValue, SetCookieError> {
    // Codecs emit base64, `.`, `:` and `-`; anything else would need quoting that other
    // frameworks do not undo, so it is refused rather than percent-encoded.
    if !all_cookie_octets(value.as_bytes()) {
        return Err(SetCookieError::BadValue);
    }
    // Written by hand rather than through `cookie::Cookie`'s `Display`, which goes through
    // `fmt` and `time`'s format descriptions: this runs on every response that sets the cookie.
    // Same attributes, same order.
    let mut header =
        Vec::with_capacity(settings.name.len() + value.len() + settings.attributes.len() + 64);
    header.extend_from_slice(settings.name.as_bytes());
    header.push(b'=');
    header.extend_from_slice(value.as_bytes());
    header.extend_from_slice(settings.attributes.as_bytes());
    if let Some(at) = expires {
        let at = at.unix_timestamp();
        let max_age = (at - now.unix_timestamp()).max(0);
        header.extend_from_slice(b"; Max-Age=");
        header.extend_from_slice(itoa(max_age, &mut [0; 20]));
        header.extend_from_slice(b"; Expires=");
        http_date(&mut header, at);
    }
    if header.len() > MAX_COOKIE_SIZE {
        return Err(SetCookieError::Oversized(header.len()));
    }
    HeaderValue::try_from(header).map_err(|_| SetCookieError::BadValue)
}

/// The decimal digits of a non-negative `n`.
fn itoa(mut n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        // `n % 10` is 0..=9 for the non-negative `n` callers pass.
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n <= 0 || i == 0 {
            break;
        }
    }
    &buf[i..]
}

/// RFC 7231 `IMF-fixdate` (`Tue, 01 Jan 2030 01:00:00 GMT`) of a Unix time, as the `cookie`
/// crate writes it. The calendar is computed from the day count (the proleptic Gregorian
/// `civil_from_days` of Howard Hinnant's date algorithms) rather than through `time`'s
/// calendar types, which cost several times as much.
fn http_date(out: &mut Vec<u8>, unix: i64) {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let two = |out: &mut Vec<u8>, n: i64| {
        out.extend_from_slice(&[b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]);
    };
    let (days, second_of_day) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // 1970-01-01 was a Thursday.
    out.extend_from_slice(DAYS[days.rem_euclid(7) as usize]);
    out.extend_from_slice(b", ");
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    two(out, day);
    out.push(b' ');
    out.extend_from_slice(MONTHS[(month - 1) as usize]);
    out.push(b' ');
    out.extend_from_slice(itoa(year.max(0), &mut [0; 20]));
    out.push(b' ');
    two(out, second_of_day / 3_600);
    out.push(b':');
    two(out, second_of_day / 60 % 60);
    out.push(b':');
    two(out, second_of_day % 60);
    out.extend_from_slice(b" GMT");
}

/// Whether every byte of `value` is an RFC 6265 `cookie-octet`. Every byte of every cookie
/// value set is checked, so the test is branch-free and runs over whole 64-byte chunks, which
/// the compiler turns into vector compares; a table lookup per byte, or `all` stopping at the
/// first bad byte, cost several times as much.
fn all_cookie_octets(value: &[u8]) -> bool {
    value.chunks(64).all(|chunk| {
        chunk
            .iter()
            .fold(0u8, |bad, &b| bad | u8::from(!is_cookie_octet(b)))
            == 0
    })
}

/// RFC 6265 `cookie-octet`: printable ASCII but the space, `"`, `,`, `;` and `\`.
fn is_cookie_octet(b: u8) -> bool {
    (b.wrapping_sub(0x21) < 0x5E) & (b != b'"') & (b != b',') & (b != b';') & (b != b'\\')
}

/// `Set-Cookie` that deletes the cookie (same name, path and domain; expired).
pub(crate) fn remove(settings: &CookieSettings) -> HeaderValue {
    let mut cookie = base(settings, String::new());
    cookie.set_max_age(Duration::ZERO);
    cookie.set_expires(Expiration::DateTime(OffsetDateTime::UNIX_EPOCH));
    HeaderValue::from_str(&cookie.to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("session=; Max-Age=0"))
}

fn base(settings: &CookieSettings, value: String) -> Cookie<'static> {
    let mut cookie = Cookie::new(settings.name.clone(), value);
    cookie.set_path(settings.path.clone());
    if let Some(domain) = &settings.domain {
        cookie.set_domain(domain.clone());
    }
    cookie.set_secure(settings.secure);
    cookie.set_http_only(settings.http_only);
    cookie.set_same_site(settings.same_site);
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SessionConfig;
    use cookie::SameSite;
    use time::macros::datetime;

    fn settings() -> CookieSettings {
        SessionConfig::builder()
            .domain("example.com")
            .secure(true)
            .build()
            .unwrap()
            .cookie()
            .clone()
    }

    #[test]
    fn finds_our_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; sessionx=2"));
        headers.append(
            COOKIE,
            HeaderValue::from_static("session=abc.def; session=second"),
        );
        assert_eq!(find(&headers, "session"), Some("abc.def"));
        assert_eq!(find(&headers, "sessionx"), Some("2"));
        assert_eq!(find(&headers, "nope"), None);
        let mut quoted = HeaderMap::new();
        quoted.insert(COOKIE, HeaderValue::from_static("session=\"q\""));
        assert_eq!(find(&quoted, "session"), Some("q"));
        assert_eq!(find(&HeaderMap::new(), "session"), None);
        for (header, found) in [
            ("  session = v1 ;x=2", Some("v1")),
            ("x=1;session=", Some("")),
            ("session=\"\"q\"\"", Some("q")),
            ("sessionless; session=a=b", Some("a=b")),
            ("x=1;\tsession=t", Some("t")),
            ("nosuch=1", None),
        ] {
            let mut map = HeaderMap::new();
            map.insert(COOKIE, HeaderValue::from_str(header).unwrap());
            assert_eq!(find(&map, "session"), found, "{header}");
        }
        let mut opaque = HeaderMap::new();
        opaque.insert(COOKIE, HeaderValue::from_bytes(b"session=\xff").unwrap());
        assert_eq!(find(&opaque, "session"), None);
        // Another application's cookie with bytes beyond ASCII does not hide ours.
        let mut foreign = HeaderMap::new();
        foreign.insert(
            COOKIE,
            HeaderValue::from_bytes("theme=caf\u{e9}; session=v".as_bytes()).unwrap(),
        );
        assert_eq!(find(&foreign, "session"), Some("v"));
    }

    #[test]
    fn cookie_octets_are_rfc_6265s() {
        let octets: Vec<u8> = (0..=255u8).filter(|&b| is_cookie_octet(b)).collect();
        let expected: Vec<u8> = (0x21..=0x7E)
            .filter(|b| !matches!(b, b'"' | b',' | b';' | b'\\'))
            .collect();
        assert_eq!(octets, expected);
        let long: Vec<u8> = expected.iter().copied().cycle().take(300).collect();
        assert!(all_cookie_octets(&long));
        for bad in [0x20, b'"', b',', b';', b'\\', 0x7F, 0x80, 0xFF] {
            for at in [0, 63, 64, 299] {
                let mut value = long.clone();
                value[at] = bad;
                assert!(!all_cookie_octets(&value), "{bad:#x} at {at}");
            }
        }
    }

    #[test]
    fn http_dates_match_the_calendar() {
        // Every 37 hours and 13 seconds from 1970 to past 2100: every weekday, month end and
        // leap day, and 2100 (not a leap year).
        let mut unix = 0;
        while unix < 4_200_000_000 {
            let mut ours = Vec::new();
            http_date(&mut ours, unix);
            let at = OffsetDateTime::from_unix_timestamp(unix).unwrap();
            let expected = format!(
                "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
                &at.weekday().to_string()[..3],
                at.day(),
                &at.month().to_string()[..3],
                at.year(),
                at.hour(),
                at.minute(),
                at.second()
            );
            assert_eq!(String::from_utf8(ours).unwrap(), expected, "{unix}");
            unix += 37 * 3_600 + 13;
        }
    }

    #[test]
    fn set_cookie_matches_the_cookie_crate() {
        let now = datetime!(2030-03-04 5:06:07 UTC);
        for (domain, secure, same_site, http_only) in [
            (Some("example.com"), true, Some(SameSite::Strict), true),
            (None, false, Some(SameSite::Lax), false),
            (None, true, Some(SameSite::None), true),
            (Some("a.b"), false, None, true),
        ] {
            let mut s = settings();
            s.domain = domain.map(str::to_owned);
            s.secure = secure;
            s.same_site = same_site;
            s.http_only = http_only;
            s.attributes = s.render_attributes();
            for expires in [
                None,
                Some(now + Duration::seconds(1_209_599)),
                Some(now - Duration::hours(1)),
                Some(datetime!(1999-12-31 23:59:59 UTC)),
            ] {
                let ours = set(&s, "v.1-x", expires, now).unwrap();
                let mut theirs = base(&s, "v.1-x".into());
                if let Some(at) = expires {
                    theirs.set_max_age((at - now).max(Duration::ZERO));
                    theirs.set_expires(Expiration::DateTime(at));
                }
                assert_eq!(ours.to_str().unwrap(), theirs.to_string());
            }
        }
    }

    #[test]
    fn set_cookie_carries_every_attribute() {
        let now = datetime!(2030-01-01 0:00 UTC);
        let h = set(&settings(), "v", Some(now + Duration::hours(1)), now).unwrap();
        let h = h.to_str().unwrap();
        for part in [
            "session=v",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Domain=example.com",
            "Max-Age=3600",
            "Expires=Tue, 01 Jan 2030 01:00:00 GMT",
        ] {
            assert!(h.contains(part), "{part} missing from {h}");
        }
        let browser = set(&settings(), "v", None, now).unwrap();
        assert!(!browser.to_str().unwrap().contains("Max-Age"));
        assert!(set(&settings(), &"v".repeat(5000), None, now).is_err());
        assert!(set(&settings(), "a;b", None, now).is_err());
        let django = set(&settings(), "e30:1r31eq:sig", None, now).unwrap();
        assert!(django
            .to_str()
            .unwrap()
            .starts_with("session=e30:1r31eq:sig;"));
    }

    #[test]
    fn removal_expires_the_cookie_on_the_same_path_and_domain() {
        let h = remove(&settings());
        let h = h.to_str().unwrap();
        assert!(h.starts_with("session=;"), "{h}");
        assert!(
            h.contains("Max-Age=0") && h.contains("Domain=example.com") && h.contains("Path=/")
        );
    }
}
