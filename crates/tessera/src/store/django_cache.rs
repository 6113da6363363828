//! Django's cache session engines on Redis and memcached: where their keys come from.
//!
//! With the `django` profile, `redis://…`, `redis+cluster://…` and `memcached://…` keep
//! sessions as Django's `cache` engine does (and `SESSION_CACHE_URL` as the cache half of
//! `cached_db` does, [`CacheEngine::CachedDb`]): the pickled session dict
//! ([`PickledCodec`](crate::codec::PickledCodec)) under Django's cache key
//! `KEY_PREFIX:VERSION:django.contrib.sessions.cache<session key>`
//! ([`django::cache_key`]). The cache's `KEY_PREFIX` and `VERSION` settings are the URL's
//! `key_prefix` and `version` parameters, by default Django's (`""` and 1):
//! `redis://127.0.0.1:6379/0?key_prefix=shop&version=2`. The store itself is the backend's
//! ordinary one; only its key prefix and codec differ.

use super::url::redact_url;
use super::{Error, OpenOptions};
use crate::interop::django::{self, CacheEngine};

/// The URL without the Django cache's parameters, and the options a Redis or memcached store
/// opens with to speak `options.django_cache`'s keys.
pub(crate) fn options(url: &str, options: &OpenOptions) -> Result<(String, OpenOptions), Error> {
    let bad = |reason: String| Error::BadUrl {
        url: redact_url(url),
        reason,
    };
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut key_prefix = String::new();
    let mut version: i64 = 1;
    let mut rest = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "key_prefix" => key_prefix = value.into_owned(),
            "version" => {
                version = value.parse().map_err(|_| {
                    bad(format!(
                        "version {value:?} is not a whole number (Django's cache VERSION)"
                    ))
                })?;
            }
            _ => {
                rest.append_pair(&key, &value);
            }
        }
    }
    let rest = rest.finish();
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{rest}")
    };
    let engine: CacheEngine = options.django_cache;
    let prefix = django::cache_key(&key_prefix, version, engine.key_prefix());
    Ok((url, options.clone().with_key_prefix(prefix)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn djangos_defaults_give_djangos_keys() {
        let (url, opened) = options("redis://127.0.0.1:6379/0", &OpenOptions::default()).unwrap();
        assert_eq!(url, "redis://127.0.0.1:6379/0");
        assert_eq!(opened.key_prefix, ":1:django.contrib.sessions.cache");
        let cached_db = OpenOptions::default().with_django_cache(CacheEngine::CachedDb);
        let (_, opened) = options("memcached://127.0.0.1", &cached_db).unwrap();
        assert_eq!(opened.key_prefix, ":1:django.contrib.sessions.cached_db");
    }

    #[test]
    fn key_prefix_and_version_are_taken_and_the_rest_kept() {
        let (url, opened) = options(
            "memcached://127.0.0.1:11211?pool=4&key_prefix=shop%20a&version=-3",
            &OpenOptions::default(),
        )
        .unwrap();
        assert_eq!(url, "memcached://127.0.0.1:11211?pool=4");
        assert_eq!(opened.key_prefix, "shop a:-3:django.contrib.sessions.cache");
        let (url, _) = options(
            "redis+cluster://127.0.0.1:7001,127.0.0.1:7002?version=2",
            &OpenOptions::default(),
        )
        .unwrap();
        assert_eq!(url, "redis+cluster://127.0.0.1:7001,127.0.0.1:7002");
    }

    #[test]
    fn a_bad_version_names_the_setting() {
        let err = options("redis://h?version=two", &OpenOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("VERSION"), "{err}");
    }
}
