//! [`ProfileDefaults`]: each profile's defaults are its framework's, so that "the same settings
//! on both sides" is all a migration needs.

use cookie::SameSite;
use time::Duration;

use crate::interop::Profile;

/// What a setting left unset means under a [`Profile`]: Flask 3.1's defaults for `flask`,
/// Flask-Session 0.8's (over Flask's) for `flask-session`, Django 5.2's for `django`, and
/// tessera's own for `native`. A setting given explicitly always wins.
///
/// ```
/// use tessera::config::ProfileDefaults;
/// use tessera::Profile;
///
/// let django = ProfileDefaults::of(Profile::Django);
/// assert_eq!(django.cookie_name, "sessionid");
/// assert_eq!(django.lifetime.whole_seconds(), 1_209_600); // SESSION_COOKIE_AGE
/// assert!(!ProfileDefaults::of(Profile::FlaskSession).sign_id); // SESSION_USE_SIGNER
/// assert!(!ProfileDefaults::of(Profile::Flask).permanent); // session.permanent
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProfileDefaults {
    /// `SESSION_COOKIE_NAME`.
    pub cookie_name: &'static str,
    /// `PERMANENT_SESSION_LIFETIME` (Flask) or `SESSION_COOKIE_AGE` (Django).
    pub lifetime: Duration,
    /// `SESSION_PERMANENT`: whether a new session outlives the browser (Flask's
    /// `session.permanent` is off by default; Flask-Session's `SESSION_PERMANENT` on; Django's
    /// `SESSION_EXPIRE_AT_BROWSER_CLOSE` off).
    pub permanent: bool,
    /// `SESSION_REFRESH_EACH_REQUEST`: whether each request that loads a permanent session
    /// extends it (Flask's and Flask-Session's default; Django only saves changed sessions).
    pub refresh_each_request: bool,
    /// `SESSION_COOKIE_SAMESITE`: Flask sends no `SameSite` by default, Django `Lax`.
    pub same_site: Option<SameSite>,
    /// `SESSION_COOKIE_HTTPONLY`.
    pub http_only: bool,
    /// `SESSION_COOKIE_SECURE`.
    pub secure: bool,
    /// `SESSION_COOKIE_PATH`.
    pub path: &'static str,
    /// `SESSION_KEY_PREFIX`, what server-side keys start with; under `django` the prefix of
    /// Django's cache session engine, which Django does not let one change.
    pub key_prefix: &'static str,
    /// `SESSION_USE_SIGNER`: whether the id cookie of a server-side store is signed.
    /// Flask-Session's default is off (and it deprecated the setting in 0.7); Django's cookie
    /// carries the bare key whatever the setting.
    pub sign_id: bool,
}

/// Flask's and Django's 31 days and two weeks.
const FLASK_LIFETIME: Duration = Duration::days(31);
const DJANGO_LIFETIME: Duration = Duration::seconds(1_209_600);

impl ProfileDefaults {
    /// The defaults of `profile`.
    pub const fn of(profile: Profile) -> Self {
        let native = Self {
            cookie_name: "session",
            lifetime: FLASK_LIFETIME,
            permanent: true,
            refresh_each_request: false,
            same_site: Some(SameSite::Lax),
            http_only: true,
            secure: false,
            path: "/",
            key_prefix: "session:",
            sign_id: true,
        };
        match profile {
            Profile::Native => native,
            Profile::Flask => Self {
                permanent: false,
                refresh_each_request: true,
                same_site: None,
                ..native
            },
            Profile::FlaskSession => Self {
                refresh_each_request: true,
                same_site: None,
                sign_id: false,
                ..native
            },
            Profile::Django => Self {
                cookie_name: "sessionid",
                lifetime: DJANGO_LIFETIME,
                key_prefix: crate::interop::django::CACHE_KEY_PREFIX,
                sign_id: false,
                ..native
            },
        }
    }
}

#[cfg(test)]
/// The README's table of defaults, a column per profile.
pub(crate) fn markdown() -> String {
    const PROFILES: [Profile; 4] = [
        Profile::Native,
        Profile::Flask,
        Profile::FlaskSession,
        Profile::Django,
    ];
    type Show = fn(ProfileDefaults) -> String;
    let rows: [(&str, Show); 10] = [
        ("`SESSION_COOKIE_NAME`", |d| format!("`{}`", d.cookie_name)),
        ("`PERMANENT_SESSION_LIFETIME` / `SESSION_COOKIE_AGE`", |d| {
            format!("{} s", d.lifetime.whole_seconds())
        }),
        ("`SESSION_PERMANENT`", |d| d.permanent.to_string()),
        ("`SESSION_REFRESH_EACH_REQUEST`", |d| {
            d.refresh_each_request.to_string()
        }),
        ("`SESSION_COOKIE_HTTPONLY`", |d| d.http_only.to_string()),
        ("`SESSION_COOKIE_SECURE`", |d| d.secure.to_string()),
        ("`SESSION_COOKIE_SAMESITE`", |d| match d.same_site {
            Some(s) => format!("`{s}`"),
            None => "not sent".to_owned(),
        }),
        ("`SESSION_COOKIE_PATH`", |d| format!("`{}`", d.path)),
        ("`SESSION_KEY_PREFIX`", |d| format!("`{}`", d.key_prefix)),
        ("`SESSION_USE_SIGNER`", |d| d.sign_id.to_string()),
    ];
    // What does not apply: the flask profile has no server-side keys or ids, and Django's
    // prefix and bare-key cookie are fixed.
    let shown = |row: &str, p: Profile, d: ProfileDefaults, show: Show| match (row, p) {
        ("`SESSION_KEY_PREFIX`" | "`SESSION_USE_SIGNER`", Profile::Flask) => {
            "— (cookie session)".to_owned()
        }
        ("`SESSION_KEY_PREFIX`", Profile::Django) => format!("{} (fixed)", show(d)),
        ("`SESSION_USE_SIGNER`", Profile::Django) => "— (bare key)".to_owned(),
        _ => show(d),
    };
    let mut out = String::from("| setting |");
    for p in PROFILES {
        out.push_str(&format!(" `{p}` |"));
    }
    out.push_str("\n|---|---|---|---|---|\n");
    for (name, show) in rows {
        out.push_str(&format!("| {name} |"));
        for p in PROFILES {
            out.push_str(&format!(
                " {} |",
                shown(name, p, ProfileDefaults::of(p), show)
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn the_readme_shows_these_defaults() {
        let readme = include_str!("../../../../README.md");
        let table = markdown();
        assert!(
            readme.contains(&table),
            "README.md's table of profile defaults differs from the code's; it should read:\n{table}"
        );
    }

    /// Every default against the one the real framework reports (golden.py reads Flask's
    /// `default_config`, Flask-Session's `Defaults` and Django's `global_settings`).
    #[test]
    fn defaults_are_the_frameworks_own() {
        let golden: Value =
            serde_json::from_str(include_str!("../../tests/data/golden.json")).unwrap();
        let frameworks = &golden["defaults"];
        let flask = &frameworks["flask"];
        let fs = &frameworks["flask_session"];
        let django = &frameworks["django"];
        let same_site = |v: &Value| match v.as_str() {
            None => None,
            Some("Lax") => Some(SameSite::Lax),
            Some("Strict") => Some(SameSite::Strict),
            Some(other) => panic!("SameSite {other}"),
        };
        let seconds = |v: &Value| Duration::seconds(v.as_i64().unwrap());
        let text = |v: &Value| v.as_str().unwrap().to_owned();
        let flag = |v: &Value| v.as_bool().unwrap();

        let f = ProfileDefaults::of(Profile::Flask);
        assert_eq!(f.cookie_name, text(&flask["SESSION_COOKIE_NAME"]));
        assert_eq!(f.lifetime, seconds(&flask["PERMANENT_SESSION_LIFETIME"]));
        assert_eq!(f.permanent, flag(&flask["session.permanent"]));
        assert_eq!(
            f.refresh_each_request,
            flag(&flask["SESSION_REFRESH_EACH_REQUEST"])
        );
        assert_eq!(f.same_site, same_site(&flask["SESSION_COOKIE_SAMESITE"]));
        assert_eq!(f.http_only, flag(&flask["SESSION_COOKIE_HTTPONLY"]));
        assert_eq!(f.secure, flag(&flask["SESSION_COOKIE_SECURE"]));
        assert_eq!(f.path, text(&flask["APPLICATION_ROOT"]));

        let s = ProfileDefaults::of(Profile::FlaskSession);
        assert_eq!(s.cookie_name, text(&flask["SESSION_COOKIE_NAME"]));
        assert_eq!(s.lifetime, seconds(&flask["PERMANENT_SESSION_LIFETIME"]));
        assert_eq!(s.permanent, flag(&fs["SESSION_PERMANENT"]));
        assert_eq!(
            s.refresh_each_request,
            flag(&flask["SESSION_REFRESH_EACH_REQUEST"])
        );
        assert_eq!(s.same_site, same_site(&flask["SESSION_COOKIE_SAMESITE"]));
        assert_eq!(s.http_only, flag(&flask["SESSION_COOKIE_HTTPONLY"]));
        assert_eq!(s.key_prefix, text(&fs["SESSION_KEY_PREFIX"]));
        assert_eq!(s.sign_id, flag(&fs["SESSION_USE_SIGNER"]));

        let d = ProfileDefaults::of(Profile::Django);
        assert_eq!(d.cookie_name, text(&django["SESSION_COOKIE_NAME"]));
        assert_eq!(d.lifetime, seconds(&django["SESSION_COOKIE_AGE"]));
        assert_eq!(
            d.permanent,
            !flag(&django["SESSION_EXPIRE_AT_BROWSER_CLOSE"])
        );
        assert_eq!(d.same_site, same_site(&django["SESSION_COOKIE_SAMESITE"]));
        assert_eq!(d.http_only, flag(&django["SESSION_COOKIE_HTTPONLY"]));
        assert_eq!(d.secure, flag(&django["SESSION_COOKIE_SECURE"]));
        assert_eq!(d.path, text(&django["SESSION_COOKIE_PATH"]));
        assert_eq!(d.key_prefix, text(&django["cache KEY_PREFIX"]));
        // Django saves only changed sessions (or all, with SESSION_SAVE_EVERY_REQUEST).
        assert!(!d.refresh_each_request);
        assert!(!flag(&django["SESSION_SAVE_EVERY_REQUEST"]));
    }
}
