//! [`Storage`]: where session data lives — in the cookie itself, or in a server-side store
//! named by a small cookie holding the id (Flask's `SessionInterface` split).

use std::sync::Arc;

use crate::config::{ConfigError, SessionConfig};
use crate::cookie_session::CookieFormat;
use crate::interop::django::CacheEngine;
use crate::store::cached::{CachedStore, DEFAULT_CACHE_TIMEOUT};
use crate::store::django_cached_db::DjangoCachedDbStore;
use crate::store::hashed_ids::HashedIdStore;
use crate::store::{self, Backend, OpenOptions, SessionStore, SharedStore};

/// Where session data lives: the whole session in a signed or encrypted cookie (`cookie`,
/// `cookie+signed`, `cookie+encrypted`), or a server-side [`SessionStore`] whose cookie holds
/// the id (every other URL of the [storage URL table](crate#storage-urls-session_url)).
///
/// ```
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::{store::OpenOptions, Storage};
///
/// let options = OpenOptions::default();
/// assert!(matches!(Storage::open("cookie+encrypted", &options).await?, Storage::Cookie(_)));
/// assert!(Storage::open("nosuch://", &options).await.is_err());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Storage {
    /// The session travels in the cookie.
    Cookie(CookieFormat),
    /// The session lives in a store.
    Store(SharedStore),
}

impl Storage {
    /// Storage in `store`.
    pub fn store(store: impl SessionStore) -> Self {
        Self::Store(Arc::new(store))
    }

    /// The storage a URL names (see [`store::open`] for stores).
    pub async fn open(url: &str, options: &OpenOptions) -> Result<Self, store::Error> {
        match url.split("://").next().unwrap_or(url) {
            "cookie" | "cookie+signed" => Ok(Self::Cookie(CookieFormat::Signed)),
            "cookie+encrypted" => Ok(Self::Cookie(CookieFormat::Encrypted)),
            _ => store::open(url, options).await.map(Self::Store),
        }
    }

    /// The storage `config`'s `SESSION_URL` names, with its clock, key prefix and timeout.
    ///
    /// With `SESSION_CACHE_URL` set too, the store it names is put in front of the
    /// `SESSION_URL` store as a cache ([`CachedStore`]); with the `django` profile and a Redis
    /// or memcached cache, the cache is Django's own `cached_db` entry, kept as Django keeps
    /// it ([`DjangoCachedDbStore`]). With `SESSION_HASH_IDS` on, the store (with its cache) is
    /// wrapped in a [`HashedIdStore`], so every layer keeps records under hashed ids. Cache operations are bounded by a quarter of the store timeout (at most
    /// [`DEFAULT_CACHE_TIMEOUT`]), so a failing cache leaves time for the database.
    ///
    /// ```
    /// # #[cfg(feature = "memory")]
    /// # async fn example() -> Result<(), tessera::ConfigError> {
    /// use tessera::{SessionConfig, Storage};
    ///
    /// let config = SessionConfig::builder().url("memory").cache_url("memory").build()?;
    /// assert!(matches!(Storage::from_config(&config).await?, Storage::Store(_)));
    /// # Ok(()) }
    /// ```
    pub async fn from_config(config: &SessionConfig) -> Result<Self, ConfigError> {
        let storage = Self::open_configured(config).await?;
        if !config.hash_ids() {
            return Ok(storage);
        }
        let Self::Store(store) = storage else {
            // `build` refuses cookie URLs with hashed ids; kept for a config built otherwise.
            return Err(ConfigError::invalid(
                "SESSION_HASH_IDS",
                "SESSION_URL names cookie sessions, which store nothing server-side to key by a hash",
            ));
        };
        let keys = config.require_keys("SESSION_HASH_IDS")?;
        // Outermost, so the cache and the database both see only hashed keys.
        Ok(Self::Store(Arc::new(HashedIdStore::new(store, keys))))
    }

    /// The `SESSION_URL` store, behind its `SESSION_CACHE_URL` cache if one is set.
    async fn open_configured(config: &SessionConfig) -> Result<Self, ConfigError> {
        let options = OpenOptions::from_config(config);
        let storage = Self::open(config.url(), &options).await?;
        let Some(cache_url) = config.cache_url() else {
            return Ok(storage);
        };
        let Self::Store(db) = storage else {
            return Err(ConfigError::invalid(
                "SESSION_CACHE_URL",
                "a cache goes in front of a server-side store, but SESSION_URL names cookie sessions",
            ));
        };
        let cache_timeout = (config.store_timeout() / 4).min(DEFAULT_CACHE_TIMEOUT);
        let shared_with_django = config.profile() == crate::Profile::Django
            && Backend::of_url(cache_url).is_some_and(|b| b.pickles(crate::Profile::Django));
        if shared_with_django {
            // Django's `cached_db`: its own cache entry, kept as Django keeps it.
            let cache_options = options.clone().with_django_cache(CacheEngine::CachedDb);
            let cache = store::open(cache_url, &cache_options)
                .await
                .map_err(ConfigError::Cache)?;
            return Ok(Self::Store(Arc::new(
                DjangoCachedDbStore::new(cache, db)
                    .with_clock(config.clock().clone())
                    .with_cache_timeout(cache_timeout),
            )));
        }
        // A cache no Python app reads keeps tessera's own envelopes whatever the profile:
        // only the database speaks the other framework's format.
        let cache_options = options
            .clone()
            .with_profile(crate::Profile::Native, config.policy());
        let cache = store::open(cache_url, &cache_options)
            .await
            .map_err(ConfigError::Cache)?;
        Ok(Self::Store(Arc::new(
            CachedStore::new(cache, db)
                .with_clock(config.clock().clone())
                .with_cache_timeout(cache_timeout),
        )))
    }
}

impl OpenOptions {
    /// The options a [`SessionConfig`](SessionConfig) implies.
    pub fn from_config(config: &SessionConfig) -> Self {
        Self {
            clock: config.clock().clone(),
            key_prefix: config.key_prefix().to_owned(),
            timeout: config.store_timeout(),
            profile: config.profile(),
            policy: config.policy(),
            keys: config.keys().cloned(),
            cookie_name: config.cookie().name().to_owned(),
            django_cache: crate::interop::django::CacheEngine::Cache,
        }
    }
}

impl From<SharedStore> for Storage {
    fn from(store: SharedStore) -> Self {
        Self::Store(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cache_needs_a_store_behind_it() {
        let config = SessionConfig::builder()
            .url("cookie")
            .cache_url("memory")
            .build()
            .unwrap();
        let err = Storage::from_config(&config).await.unwrap_err().to_string();
        assert!(err.starts_with("SESSION_CACHE_URL"), "{err}");
    }

    /// Every profile with a server-side format works behind a cache.
    #[cfg(all(feature = "memory", feature = "sqlite"))]
    #[tokio::test]
    async fn every_server_side_profile_takes_a_cache() {
        let dir =
            std::env::temp_dir().join(format!("tessera-cache-profiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (profile, query) in [
            (crate::Profile::Native, ""),
            (crate::Profile::FlaskSession, "?table=sessions"),
            (crate::Profile::Django, "?migrate=true"),
        ] {
            let db = dir.join(format!("{profile}.db"));
            let config = SessionConfig::builder()
                .secret_key("cache-profile-test-secret-key-0123456789")
                .profile(profile)
                .url(format!("sqlite://{}{query}", db.display()))
                .cache_url("memory")
                .build()
                .unwrap();
            let storage = Storage::from_config(&config).await.unwrap();
            let Storage::Store(store) = &storage else {
                panic!("{profile}: a store")
            };
            assert_eq!(
                store.profile(),
                profile,
                "the cache forwards the database's profile"
            );
            crate::SessionLayer::new(storage, config).unwrap();
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[cfg(feature = "memory")]
    #[tokio::test]
    async fn hashed_ids_wrap_the_store_and_its_cache() {
        let config = SessionConfig::builder()
            .secret_key("hash-ids-storage-test-secret-key-0123456789")
            .url("memory")
            .cache_url("memory")
            .hash_ids(true)
            .build()
            .unwrap();
        let Storage::Store(store) = Storage::from_config(&config).await.unwrap() else {
            panic!("a store was expected")
        };
        let shown = format!("{store:?}");
        assert!(
            shown.starts_with("HashedIdStore") && shown.contains("CachedStore"),
            "{shown}"
        );
        let mut config = config;
        config.url = "cookie".into();
        config.cache_url = None;
        let err = Storage::from_config(&config).await.unwrap_err().to_string();
        assert!(err.starts_with("SESSION_HASH_IDS"), "{err}");
    }

    #[cfg(feature = "memory")]
    #[tokio::test]
    async fn a_bad_cache_url_names_its_setting() {
        let config = SessionConfig::builder()
            .url("memory")
            .cache_url("nosuch://x")
            .build()
            .unwrap();
        let err = Storage::from_config(&config).await.unwrap_err();
        assert!(matches!(err, ConfigError::Cache(_)), "{err}");
        assert!(err.to_string().starts_with("SESSION_CACHE_URL"), "{err}");
        let config = SessionConfig::builder()
            .url("memory")
            .cache_url("memory")
            .build()
            .unwrap();
        let Storage::Store(store) = Storage::from_config(&config).await.unwrap() else {
            panic!("a store was expected")
        };
        assert!(format!("{store:?}").contains("CachedStore"));
    }
}
