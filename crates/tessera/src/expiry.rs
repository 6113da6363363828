//! When a session ends: the per-session choice ([`Expiry`]) and the global policy
//! ([`ExpiryPolicy`]) that resolves it into cookie attributes and store deadlines.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// How long one session lives: Django's `set_expiry` argument, Flask's `permanent` flag.
///
/// | Django `set_expiry(…)` | Flask | `Expiry` |
/// |---|---|---|
/// | `None` | `session.permanent` left as configured | [`Expiry::Default`] |
/// | `0` | `session.permanent = False` | [`Expiry::BrowserClose`] |
/// | `300` | — | [`Expiry::Age`]`(300 s)` (counted from the last save) |
/// | a `datetime` | — | [`Expiry::At`]`(date)` |
///
/// ```
/// use tessera::Expiry;
/// use time::Duration;
///
/// assert_eq!(Expiry::from_seconds(0), Expiry::BrowserClose);
/// assert_eq!(Expiry::from_seconds(300), Expiry::Age(Duration::seconds(300)));
/// assert_eq!(Expiry::from(Duration::minutes(5)), Expiry::Age(Duration::seconds(300)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expiry {
    /// Follow the global [`ExpiryPolicy`].
    #[default]
    Default,
    /// End when the browser closes: the cookie carries no `Max-Age`/`Expires`. The stored
    /// record still lives for the global lifetime after its last save, as in Django.
    BrowserClose,
    /// Live this long after the last save (sliding).
    Age(#[serde(with = "seconds")] Duration),
    /// End at a fixed moment.
    At(#[serde(with = "time::serde::timestamp")] OffsetDateTime),
}

impl Expiry {
    /// Django's integer form: `0` ends the session when the browser closes, any other value
    /// is an age in seconds (a negative one has already expired).
    pub fn from_seconds(seconds: i64) -> Self {
        if seconds == 0 {
            Self::BrowserClose
        } else {
            Self::Age(Duration::seconds(seconds))
        }
    }
}

impl From<Duration> for Expiry {
    fn from(age: Duration) -> Self {
        Self::Age(age)
    }
}

impl From<std::time::Duration> for Expiry {
    fn from(age: std::time::Duration) -> Self {
        Self::Age(Duration::try_from(age).unwrap_or(Duration::MAX))
    }
}

impl From<OffsetDateTime> for Expiry {
    fn from(at: OffsetDateTime) -> Self {
        Self::At(at)
    }
}

mod seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.whole_seconds())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        i64::deserialize(d).map(Duration::seconds)
    }
}

/// The global expiry policy: Flask's `PERMANENT_SESSION_LIFETIME` and `SESSION_PERMANENT`,
/// Django's `SESSION_COOKIE_AGE` and `SESSION_EXPIRE_AT_BROWSER_CLOSE`.
///
/// ```
/// use tessera::{Expiry, ExpiryPolicy};
/// use time::{Duration, OffsetDateTime};
///
/// let policy = ExpiryPolicy::new(Duration::days(14), true);
/// let now = OffsetDateTime::now_utc();
/// assert_eq!(policy.age(Expiry::Default, now), Duration::days(14));
/// assert_eq!(policy.cookie_expires(Expiry::BrowserClose, now), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPolicy {
    lifetime: Duration,
    permanent: bool,
}

impl Default for ExpiryPolicy {
    /// 31 days, permanent: Flask's defaults.
    fn default() -> Self {
        Self::new(Duration::days(31), true)
    }
}

impl ExpiryPolicy {
    /// A policy where sessions live `lifetime` after their last save; `permanent` false makes
    /// [`Expiry::Default`] sessions end when the browser closes.
    pub fn new(lifetime: Duration, permanent: bool) -> Self {
        Self {
            lifetime,
            permanent,
        }
    }

    /// The global lifetime.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Whether [`Expiry::Default`] sessions outlive the browser.
    pub fn permanent_by_default(&self) -> bool {
        self.permanent
    }

    /// Whether a session with this expiry ends when the browser closes.
    pub fn at_browser_close(&self, expiry: Expiry) -> bool {
        match expiry {
            Expiry::Default => !self.permanent,
            Expiry::BrowserClose => true,
            Expiry::Age(_) | Expiry::At(_) => false,
        }
    }

    /// Seconds of life left if the session were saved at `now` (Django's `get_expiry_age`;
    /// browser-close sessions report the global lifetime, as Django does).
    pub fn age(&self, expiry: Expiry, now: OffsetDateTime) -> Duration {
        match expiry {
            Expiry::Default | Expiry::BrowserClose => self.lifetime,
            Expiry::Age(age) => age,
            Expiry::At(at) => at - now,
        }
    }

    /// When a session saved at `now` ends on the server (Django's `get_expiry_date`).
    pub fn deadline(&self, expiry: Expiry, now: OffsetDateTime) -> OffsetDateTime {
        match expiry {
            Expiry::At(at) => at,
            other => now.saturating_add(self.age(other, now)),
        }
    }

    /// Whether a session saved now with this choice would already have ended: the same as
    /// `deadline(expiry, now) <= now`, but `now` is asked for only for a fixed date.
    pub(crate) fn ended(&self, expiry: Expiry, now: impl FnOnce() -> OffsetDateTime) -> bool {
        match expiry {
            Expiry::At(at) => at <= now(),
            Expiry::Age(age) => age <= Duration::ZERO,
            Expiry::Default | Expiry::BrowserClose => self.lifetime <= Duration::ZERO,
        }
    }

    /// The cookie's `Expires`, or `None` for a browser-session cookie.
    pub fn cookie_expires(&self, expiry: Expiry, now: OffsetDateTime) -> Option<OffsetDateTime> {
        if self.at_browser_close(expiry) {
            None
        } else {
            Some(self.deadline(expiry, now))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-06-01 12:00 UTC);

    #[test]
    fn default_follows_the_global_policy() {
        let permanent = ExpiryPolicy::new(Duration::days(14), true);
        let browser = ExpiryPolicy::new(Duration::days(14), false);
        assert_eq!(
            permanent.cookie_expires(Expiry::Default, NOW),
            Some(NOW + Duration::days(14))
        );
        assert_eq!(browser.cookie_expires(Expiry::Default, NOW), None);
        assert_eq!(
            browser.deadline(Expiry::Default, NOW),
            NOW + Duration::days(14)
        );
    }

    #[test]
    fn explicit_choices_override_the_policy() {
        let p = ExpiryPolicy::default();
        let at = NOW + Duration::hours(3);
        assert_eq!(p.deadline(Expiry::At(at), NOW), at);
        assert_eq!(p.age(Expiry::At(at), NOW), Duration::hours(3));
        assert_eq!(
            p.cookie_expires(Expiry::Age(Duration::seconds(60)), NOW),
            Some(NOW + Duration::seconds(60))
        );
        assert!(p.at_browser_close(Expiry::BrowserClose));
        assert_eq!(p.age(Expiry::BrowserClose, NOW), Duration::days(31));
    }

    #[test]
    fn ended_agrees_with_the_deadline() {
        for policy in [
            ExpiryPolicy::default(),
            ExpiryPolicy::new(Duration::ZERO, true),
            ExpiryPolicy::new(Duration::seconds(-5), false),
        ] {
            for expiry in [
                Expiry::Default,
                Expiry::BrowserClose,
                Expiry::Age(Duration::seconds(60)),
                Expiry::Age(Duration::ZERO),
                Expiry::Age(Duration::seconds(-1)),
                Expiry::At(NOW),
                Expiry::At(NOW - Duration::seconds(1)),
                Expiry::At(NOW + Duration::seconds(1)),
            ] {
                assert_eq!(
                    policy.ended(expiry, || NOW),
                    policy.deadline(expiry, NOW) <= NOW,
                    "{policy:?} {expiry:?}"
                );
            }
        }
    }

    #[test]
    fn serde_form_is_stable() {
        let cases = [
            (Expiry::Default, r#""default""#),
            (Expiry::BrowserClose, r#""browser_close""#),
            (Expiry::Age(Duration::seconds(90)), r#"{"age":90}"#),
            (
                Expiry::At(datetime!(2030-01-01 0:00 UTC)),
                r#"{"at":1893456000}"#,
            ),
        ];
        for (expiry, json) in cases {
            assert_eq!(serde_json::to_string(&expiry).unwrap(), json);
            assert_eq!(serde_json::from_str::<Expiry>(json).unwrap(), expiry);
        }
    }
}
