//! Reading settings from `SECRET_KEY` / `SESSION_*` variables.

use std::time::Duration as StdDuration;

use cookie::SameSite;
use time::Duration;

use super::{ConfigError, SessionConfigBuilder, StaleWrites, StoreOutage};

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn var(lookup: Lookup<'_>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.is_empty())
}

fn flag(lookup: Lookup<'_>, name: &'static str) -> Result<Option<bool>, ConfigError> {
    let Some(value) = var(lookup, name) else {
        return Ok(None);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(Some(true)),
        "0" | "false" | "no" | "off" => Ok(Some(false)),
        _ => Err(ConfigError::invalid(
            name,
            format!("{value:?} is not a boolean; use true or false"),
        )),
    }
}

fn whole(lookup: Lookup<'_>, name: &'static str) -> Result<Option<i64>, ConfigError> {
    var(lookup, name)
        .map(|value| {
            value
                .trim()
                .parse::<i64>()
                .map_err(|_| ConfigError::invalid(name, format!("{value:?} is not a whole number")))
        })
        .transpose()
}

/// Applies every variable that is set to `b`.
pub(super) fn apply(
    mut b: SessionConfigBuilder,
    lookup: Lookup<'_>,
) -> Result<SessionConfigBuilder, ConfigError> {
    if let Some(key) = var(lookup, "SECRET_KEY") {
        b = b.secret_key(key);
    }
    if let Some(keys) = var(lookup, "SECRET_KEY_FALLBACKS") {
        // Comma-separated, as a list in an environment variable usually is.
        for key in keys.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            b = b.fallback_key(key);
        }
    }
    if let Some(name) = var(lookup, "SESSION_COOKIE_NAME") {
        b = b.cookie_name(name);
    }
    if let Some(domain) = var(lookup, "SESSION_COOKIE_DOMAIN") {
        b = b.domain(domain);
    }
    if let Some(path) = var(lookup, "SESSION_COOKIE_PATH") {
        b = b.path(path);
    }
    if let Some(on) = flag(lookup, "SESSION_COOKIE_SECURE")? {
        b = b.secure(on);
    }
    if let Some(on) = flag(lookup, "SESSION_COOKIE_HTTPONLY")? {
        b = b.http_only(on);
    }
    if let Some(on) = flag(lookup, "SESSION_COOKIE_HOST_PREFIX")? {
        b = b.host_prefix(on);
    }
    if let Some(value) = var(lookup, "SESSION_COOKIE_SAMESITE") {
        let same_site = match value.trim().to_ascii_lowercase().as_str() {
            "lax" => Some(SameSite::Lax),
            "strict" => Some(SameSite::Strict),
            "none" => Some(SameSite::None),
            // Django's `False` omits the attribute.
            "false" | "off" => None,
            _ => {
                return Err(ConfigError::invalid(
                    "SESSION_COOKIE_SAMESITE",
                    format!("{value:?} is not one of Lax, Strict, None, false"),
                ))
            }
        };
        b = b.same_site(same_site);
    }
    let flask_lifetime = whole(lookup, "PERMANENT_SESSION_LIFETIME")?;
    let django_age = whole(lookup, "SESSION_COOKIE_AGE")?;
    match (flask_lifetime, django_age) {
        (Some(a), Some(b)) if a != b => return Err(ConfigError::invalid(
            "PERMANENT_SESSION_LIFETIME",
            "PERMANENT_SESSION_LIFETIME and SESSION_COOKIE_AGE are both set and differ; set one",
        )),
        (Some(seconds), _) | (None, Some(seconds)) => {
            if seconds <= 0 {
                let name = if flask_lifetime.is_some() {
                    "PERMANENT_SESSION_LIFETIME"
                } else {
                    "SESSION_COOKIE_AGE"
                };
                return Err(ConfigError::invalid(
                    name,
                    "the lifetime must be a positive number of seconds",
                ));
            }
            b = b.lifetime(Duration::seconds(seconds));
        }
        (None, None) => {}
    }
    if let Some(on) = flag(lookup, "SESSION_PERMANENT")? {
        b = b.permanent(on);
    }
    if let Some(on) = flag(lookup, "SESSION_EXPIRE_AT_BROWSER_CLOSE")? {
        b = b.expire_at_browser_close(on);
    }
    if let Some(on) = flag(lookup, "SESSION_SAVE_EVERY_REQUEST")? {
        b = b.save_every_request(on);
    }
    if let Some(on) = flag(lookup, "SESSION_REFRESH_EACH_REQUEST")? {
        b = b.refresh_each_request(on);
    }
    if let Some(on) = flag(lookup, "SESSION_USE_SIGNER")? {
        b = b.sign_id(on);
    }
    if let Some(on) = flag(lookup, "SESSION_COOKIE_COMPRESS")? {
        b = b.compress(on);
    }
    if let Some(prefix) = lookup("SESSION_KEY_PREFIX") {
        // An empty prefix is meaningful here.
        b = b.key_prefix(prefix);
    }
    if let Some(profile) = var(lookup, "SESSION_PROFILE") {
        let profile = profile
            .parse()
            .map_err(|e: crate::interop::UnknownProfile| {
                ConfigError::invalid("SESSION_PROFILE", e.to_string())
            })?;
        b = b.profile(profile);
    }
    if let Some(url) = var(lookup, "SESSION_URL") {
        b = b.url(url);
    }
    if let Some(url) = var(lookup, "SESSION_CACHE_URL") {
        b = b.cache_url(url);
    }
    if let Some(ms) = whole(lookup, "SESSION_STORE_TIMEOUT_MS")? {
        let ms = u64::try_from(ms).ok().filter(|ms| *ms > 0).ok_or_else(|| {
            ConfigError::invalid("SESSION_STORE_TIMEOUT_MS", "the timeout must be positive")
        })?;
        b = b.store_timeout(StdDuration::from_millis(ms));
    }
    if let Some(ms) = whole(lookup, "SESSION_SAVE_RETRY_MS")? {
        let ms = u64::try_from(ms).map_err(|_| {
            ConfigError::invalid("SESSION_SAVE_RETRY_MS", "the time cannot be negative")
        })?;
        b = b.save_retry_time(StdDuration::from_millis(ms));
    }
    if let Some(on) = flag(lookup, "SESSION_HASH_IDS")? {
        b = b.hash_ids(on);
    }
    if let Some(value) = var(lookup, "SESSION_STALE_WRITES") {
        b = b.stale_writes(match value.to_ascii_lowercase().as_str() {
            "conflict" => StaleWrites::Conflict,
            "last-writer-wins" => StaleWrites::LastWriterWins,
            _ => {
                return Err(ConfigError::invalid(
                    "SESSION_STALE_WRITES",
                    "expected `conflict` or `last-writer-wins`",
                ))
            }
        });
    }
    for (name, set) in [
        (
            "SESSION_IDLE_TIMEOUT",
            SessionConfigBuilder::idle_timeout
                as fn(SessionConfigBuilder, Duration) -> SessionConfigBuilder,
        ),
        (
            "SESSION_ABSOLUTE_TIMEOUT",
            SessionConfigBuilder::absolute_timeout,
        ),
    ] {
        if let Some(seconds) = whole(lookup, name)? {
            if seconds <= 0 {
                return Err(ConfigError::invalid(
                    name,
                    "the timeout must be a positive number of seconds (unset it for no limit)",
                ));
            }
            b = set(b, Duration::seconds(seconds));
        }
    }
    if let Some(on) = flag(lookup, "SESSION_RECORD_DEVICES")? {
        b = b.record_devices(on);
    }
    if let Some(value) = var(lookup, "SESSION_CLIENT_IP_HEADER") {
        let name = http::HeaderName::from_bytes(value.trim().as_bytes()).map_err(|_| {
            ConfigError::invalid(
                "SESSION_CLIENT_IP_HEADER",
                format!("{value:?} is not a header name"),
            )
        })?;
        b = b.client_ip_header(name);
    }
    if let Some(value) = var(lookup, "SESSION_STORE_OUTAGE") {
        b = b.store_outage(match value.trim().to_ascii_lowercase().as_str() {
            "unavailable" => StoreOutage::Unavailable,
            "anonymous" => StoreOutage::Anonymous,
            _ => {
                return Err(ConfigError::invalid(
                    "SESSION_STORE_OUTAGE",
                    format!(
                        "{value:?} is not one of `unavailable` (503, the default) or `anonymous`"
                    ),
                ))
            }
        });
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::SessionConfig;

    fn config(vars: &[(&str, &str)]) -> Result<SessionConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        SessionConfigBuilder::from_lookup(|name| map.get(name).cloned())?.build()
    }

    #[test]
    fn reads_flask_and_django_names() {
        let c = config(&[
            ("SECRET_KEY", "k".repeat(32).as_str()),
            (
                "SECRET_KEY_FALLBACKS",
                &format!("{}, {}", "a".repeat(32), "b".repeat(40)),
            ),
            ("SESSION_COOKIE_NAME", "sessionid"),
            ("SESSION_COOKIE_SECURE", "True"),
            ("SESSION_COOKIE_SAMESITE", "Strict"),
            ("SESSION_COOKIE_AGE", "1209600"),
            ("SESSION_EXPIRE_AT_BROWSER_CLOSE", "yes"),
            ("SESSION_SAVE_EVERY_REQUEST", "1"),
            ("SESSION_URL", "cookie+encrypted"),
            ("SESSION_STORE_TIMEOUT_MS", "250"),
            ("SESSION_PROFILE", "Django"),
            ("SESSION_CACHE_URL", "redis://127.0.0.1:6379"),
            ("SESSION_SAVE_RETRY_MS", "40"),
            ("SESSION_STALE_WRITES", "Last-Writer-Wins"),
            ("SESSION_STORE_OUTAGE", " Anonymous"),
        ])
        .unwrap();
        assert_eq!(c.store_outage, StoreOutage::Anonymous);
        assert_eq!(c.save_retry_time, StdDuration::from_millis(40));
        assert_eq!(c.stale_writes, StaleWrites::LastWriterWins);
        assert_eq!(c.keys.as_ref().unwrap().len(), 3);
        assert_eq!(c.cookie.name, "sessionid");
        assert!(c.cookie.secure);
        assert_eq!(c.cookie.same_site, Some(SameSite::Strict));
        assert_eq!(c.policy.lifetime(), Duration::weeks(2));
        assert!(!c.policy.permanent_by_default());
        assert!(c.save_every_request);
        assert_eq!(c.url, "cookie+encrypted");
        assert_eq!(c.store_timeout, StdDuration::from_millis(250));
        assert_eq!(c.key_prefix, crate::interop::django::CACHE_KEY_PREFIX);
        assert_eq!(c.profile, crate::Profile::Django);
        assert_eq!(c.cache_url(), Some("redis://127.0.0.1:6379"));
    }

    #[test]
    fn hash_ids_is_a_flag_checked_against_the_profile() {
        let key = "k".repeat(32);
        let on = config(&[("SECRET_KEY", &key), ("SESSION_HASH_IDS", "True")]).unwrap();
        assert!(on.hash_ids());
        let off = config(&[("SECRET_KEY", &key), ("SESSION_HASH_IDS", "0")]).unwrap();
        assert!(!off.hash_ids());
        let err = config(&[
            ("SECRET_KEY", &key),
            ("SESSION_HASH_IDS", "true"),
            ("SESSION_PROFILE", "flask-session"),
            ("SESSION_URL", "redis://127.0.0.1:6379"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("SESSION_HASH_IDS"), "{err}");
    }

    /// A profile's defaults are its framework's; a setting given explicitly wins over them.
    #[test]
    fn profiles_default_to_their_frameworks_settings() {
        let flask_session = config(&[("SESSION_PROFILE", "flask-session")]).unwrap();
        assert!(
            !flask_session.sign_id,
            "Flask-Session's SESSION_USE_SIGNER is off"
        );
        assert!(flask_session.refresh_each_request);
        assert_eq!(flask_session.cookie.same_site, None);
        assert_eq!(flask_session.key_prefix, "session:");
        let signed = config(&[
            ("SESSION_PROFILE", "flask-session"),
            ("SESSION_USE_SIGNER", "true"),
            ("SESSION_REFRESH_EACH_REQUEST", "false"),
            ("SESSION_COOKIE_SAMESITE", "Lax"),
        ])
        .unwrap();
        assert!(signed.sign_id && !signed.refresh_each_request);
        assert_eq!(signed.cookie.same_site, Some(SameSite::Lax));
        let flask = config(&[("SESSION_PROFILE", "flask")]).unwrap();
        assert!(!flask.policy.permanent_by_default());
        let permanent = config(&[("SESSION_PROFILE", "flask"), ("SESSION_PERMANENT", "true")]);
        assert!(permanent.unwrap().policy.permanent_by_default());
        let django = config(&[("SESSION_PROFILE", "django")]).unwrap();
        assert_eq!(django.cookie.name, "sessionid");
        assert_eq!(django.policy.lifetime(), Duration::seconds(1_209_600));
        assert_eq!(django.cookie.same_site, Some(SameSite::Lax));
        let native = config(&[]).unwrap();
        assert!(native.sign_id && !native.refresh_each_request);
        assert_eq!(native.policy.lifetime(), Duration::days(31));
    }

    #[test]
    fn invalid_values_name_their_variable() {
        for (name, value) in [
            ("SESSION_COOKIE_SECURE", "maybe"),
            ("SESSION_COOKIE_SAMESITE", "sometimes"),
            ("PERMANENT_SESSION_LIFETIME", "a week"),
            ("PERMANENT_SESSION_LIFETIME", "-5"),
            ("SESSION_STORE_TIMEOUT_MS", "0"),
            ("SECRET_KEY", "too-short"),
            ("SESSION_PROFILE", "rails"),
            ("SESSION_STALE_WRITES", "sometimes"),
            ("SESSION_STORE_OUTAGE", "anonymously"),
            ("SESSION_SAVE_RETRY_MS", "-1"),
            ("SESSION_HASH_IDS", "maybe"),
        ] {
            let err = config(&[(name, value)]).unwrap_err().to_string();
            assert!(err.starts_with(name), "{name}={value}: {err}");
            assert!(
                !err.contains("too-short"),
                "secrets are never echoed: {err}"
            );
        }
        let err = config(&[
            ("SESSION_PROFILE", "django"),
            ("SESSION_KEY_PREFIX", "app:"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("SESSION_KEY_PREFIX") && err.contains("key_prefix"),
            "{err}"
        );
        let err = config(&[
            ("PERMANENT_SESSION_LIFETIME", "60"),
            ("SESSION_COOKIE_AGE", "61"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("both set"));
        assert_eq!(
            config(&[("SESSION_STORE_OUTAGE", "unavailable")])
                .unwrap()
                .store_outage,
            StoreOutage::Unavailable
        );
        assert_eq!(config(&[]).unwrap().store_outage, StoreOutage::Unavailable);
    }
}
