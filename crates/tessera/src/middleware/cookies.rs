//! Reading our cookie from `Cookie` headers and writing `Set-Cookie` headers.

use cookie::{Cookie, Expiration, SameSite};
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::config::{CookieSettings, MAX_COOKIE_SIZE};

/// The request's `Cookie` headers, kept unparsed until a handler asks for the session.
///
/// Browsers send one `Cookie` header (HTTP/2 may split it): that one is held inline, so a
/// request pays no allocation for it, only a reference-count increment.
#[derive(Debug, Default)]
pub(crate) enum RequestCookies {
    #[default]
    None,
    One(HeaderValue),
    Many(Vec<HeaderValue>),
}

impl RequestCookies {
    /// The `Cookie` headers of `headers`.
    pub(crate) fn collect(headers: &HeaderMap) -> Self {
        let mut all = headers.get_all(COOKIE).iter();
        match (all.next(), all.next()) {
            (None, _) => Self::None,
            (Some(one), None) => Self::One(one.clone()),
            (Some(a), Some(b)) => Self::Many([a, b].into_iter().chain(all).cloned().collect()),
        }
    }

    /// The value of the first cookie called `name`. Browsers send the most specific path
    /// first, which is the one a session belongs to.
    pub(crate) fn find(&self, name: &str) -> Option<String> {
        match self {
            Self::None => None,
            Self::One(header) => find_in(header, name),
            Self::Many(headers) => headers.iter().find_map(|h| find_in(h, name)),
        }
    }
}

/// The value of the first cookie called `name` in one `Cookie` header: `;`-separated
/// `name=value` pairs, whitespace around names and values ignored, double quotes around the
/// value removed.
fn find_in(header: &HeaderValue, name: &str) -> Option<String> {
    header.to_str().ok()?.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        if k.trim() != name {
            return None;
        }
        // Quotes stripped byte by byte: `trim_matches(char)` costs several times as much.
        let mut value = v.trim().as_bytes();
        while let [b'"', rest @ ..] = value {
            value = rest;
        }
        while let [rest @ .., b'"'] = value {
            value = rest;
        }
        // A sub-slice of a `str` cut at ASCII quotes is UTF-8.
        std::str::from_utf8(value).ok().map(str::to_owned)
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
        let cookies = RequestCookies::collect(&headers);
        assert_eq!(cookies.find("session").as_deref(), Some("abc.def"));
        assert_eq!(cookies.find("sessionx").as_deref(), Some("2"));
        assert_eq!(cookies.find("nope"), None);
        let mut quoted = HeaderMap::new();
        quoted.insert(COOKIE, HeaderValue::from_static("session=\"q\""));
        let cookies = RequestCookies::collect(&quoted);
        assert_eq!(cookies.find("session").as_deref(), Some("q"));
        assert_eq!(
            RequestCookies::collect(&HeaderMap::new()).find("session"),
            None
        );
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
            assert_eq!(
                RequestCookies::collect(&map).find("session").as_deref(),
                found,
                "{header}"
            );
        }
        let mut opaque = HeaderMap::new();
        opaque.insert(COOKIE, HeaderValue::from_bytes(b"session=\xff").unwrap());
        assert_eq!(RequestCookies::collect(&opaque).find("session"), None);
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
