//! Reading our cookie from `Cookie` headers and writing `Set-Cookie` headers.

use cookie::{Cookie, Expiration, SameSite};
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use time::{Duration, OffsetDateTime, UtcOffset};

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
    header.split(|&b| b == b';').find_map(|pair| {
        let rest = pair.trim_ascii_start().strip_prefix(name)?;
        let value = rest.trim_ascii_start().strip_prefix(b"=")?.trim_ascii();
        let mut value = value;
        while let [b'"', rest @ ..] = value {
            value = rest;
        }
        while let [rest @ .., b'"'] = value {
            value = rest;
        }
        std::str::from_utf8(value).ok()
    })
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
    value: String,
    expires: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<HeaderValue, SetCookieError> {
    // Codecs emit base64, `.`, `:` and `-`; anything else would need quoting that other
    // frameworks do not undo, so it is refused rather than percent-encoded.
    if !value.bytes().all(is_cookie_octet) {
        return Err(SetCookieError::BadValue);
    }
    // Written by hand rather than through `cookie::Cookie`'s `Display`, which goes through
    // `fmt` and `time`'s format descriptions: this runs on every response that sets the cookie.
    // Same attributes, same order.
    let mut header =
        String::with_capacity(settings.name.len() + value.len() + settings.path.len() + 112);
    header.push_str(&settings.name);
    header.push('=');
    header.push_str(&value);
    if settings.http_only {
        header.push_str("; HttpOnly");
    }
    if let Some(same_site) = settings.same_site {
        header.push_str(match same_site {
            SameSite::Strict => "; SameSite=Strict",
            SameSite::Lax => "; SameSite=Lax",
            SameSite::None => "; SameSite=None",
        });
    }
    if settings.secure {
        header.push_str("; Secure");
    }
    header.push_str("; Path=");
    header.push_str(&settings.path);
    if let Some(domain) = &settings.domain {
        header.push_str("; Domain=");
        header.push_str(domain);
    }
    if let Some(at) = expires {
        let max_age = (at - now).max(Duration::ZERO).whole_seconds();
        header.push_str("; Max-Age=");
        header.push_str(itoa(max_age, &mut [0; 20]));
        header.push_str("; Expires=");
        http_date(&mut header, at.to_offset(UtcOffset::UTC));
    }
    if header.len() > MAX_COOKIE_SIZE {
        return Err(SetCookieError::Oversized(header.len()));
    }
    HeaderValue::try_from(header).map_err(|_| SetCookieError::BadValue)
}

/// The decimal digits of a non-negative `n`.
fn itoa(mut n: i64, buf: &mut [u8; 20]) -> &str {
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
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// RFC 7231 `IMF-fixdate` (`Tue, 01 Jan 2030 01:00:00 GMT`), as the `cookie` crate writes it.
fn http_date(out: &mut String, at: OffsetDateTime) {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let two = |out: &mut String, n: u8| {
        out.push(char::from(b'0' + n / 10 % 10));
        out.push(char::from(b'0' + n % 10));
    };
    out.push_str(DAYS[usize::from(at.weekday().number_days_from_monday())]);
    out.push_str(", ");
    two(out, at.day());
    out.push(' ');
    out.push_str(MONTHS[usize::from(u8::from(at.month()) - 1)]);
    out.push(' ');
    out.push_str(itoa(i64::from(at.year()).max(0), &mut [0; 20]));
    out.push(' ');
    two(out, at.hour());
    out.push(':');
    two(out, at.minute());
    out.push(':');
    two(out, at.second());
    out.push_str(" GMT");
}

/// RFC 6265 `cookie-octet`.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
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
            for expires in [
                None,
                Some(now + Duration::seconds(1_209_599)),
                Some(now - Duration::hours(1)),
                Some(datetime!(1999-12-31 23:59:59 UTC)),
            ] {
                let ours = set(&s, "v.1-x".into(), expires, now).unwrap();
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
        let h = set(&settings(), "v".into(), Some(now + Duration::hours(1)), now).unwrap();
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
        let browser = set(&settings(), "v".into(), None, now).unwrap();
        assert!(!browser.to_str().unwrap().contains("Max-Age"));
        assert!(set(&settings(), "v".repeat(5000), None, now).is_err());
        assert!(set(&settings(), "a;b".into(), None, now).is_err());
        let django = set(&settings(), "e30:1r31eq:sig".into(), None, now).unwrap();
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
