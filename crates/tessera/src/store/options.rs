//! [`OpenOptions`]: what a store is opened with besides its URL.

use std::time::Duration;

use super::url::Backend;
use crate::clock::SharedClock;
use crate::crypto::KeyRing;
use crate::expiry::ExpiryPolicy;
use crate::interop::django::CacheEngine;
use crate::interop::Profile;

/// The default bound on connecting to a store and on each of its operations
/// (`SESSION_STORE_TIMEOUT_MS`).
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(3);

/// What [`open`](super::open()) passes to a store besides its URL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OpenOptions {
    /// The clock stores that judge expiry themselves use.
    pub clock: SharedClock,
    /// What stores put before the id in their keys (`SESSION_KEY_PREFIX`).
    pub key_prefix: String,
    /// The bound on connecting and on every operation (`SESSION_STORE_TIMEOUT_MS`).
    pub timeout: Duration,
    /// Whose format to keep records in (`SESSION_PROFILE`); stores refuse profiles they do not
    /// support.
    pub profile: Profile,
    /// The expiry policy, for formats that keep a session's permanence in its data (Flask's
    /// `_permanent`) and for Django's file engine (`SESSION_COOKIE_AGE`).
    pub policy: ExpiryPolicy,
    /// The secret key ring (`SECRET_KEY`, `SECRET_KEY_FALLBACKS`), for formats that sign what
    /// they store (Django's `session_data`). `Debug` shows no key material.
    pub keys: Option<KeyRing>,
    /// The session cookie's name (`SESSION_COOKIE_NAME`): Django's file engine names its
    /// files after it.
    pub cookie_name: String,
    /// Which of Django's cache engines a Redis or memcached store speaks with the `django`
    /// profile: the `cache` engine's keys (the default), or those of `cached_db`'s cache,
    /// which [`Storage::from_config`](crate::Storage::from_config) opens `SESSION_CACHE_URL`
    /// with.
    pub django_cache: CacheEngine,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            clock: crate::clock::system(),
            key_prefix: "session:".to_owned(),
            timeout: DEFAULT_STORE_TIMEOUT,
            profile: Profile::Native,
            policy: ExpiryPolicy::default(),
            keys: None,
            cookie_name: "session".to_owned(),
            django_cache: CacheEngine::Cache,
        }
    }
}

impl OpenOptions {
    /// Sets the key prefix.
    #[must_use]
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Sets the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the profile, and the policy its format needs.
    #[must_use]
    pub fn with_profile(mut self, profile: Profile, policy: ExpiryPolicy) -> Self {
        self.profile = profile;
        self.policy = policy;
        self
    }

    /// Sets the secret key ring signed formats need.
    #[must_use]
    pub fn with_keys(mut self, keys: KeyRing) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Sets the session cookie's name.
    #[must_use]
    pub fn with_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// Sets which of Django's cache engines a Redis or memcached store speaks.
    #[must_use]
    pub fn with_django_cache(mut self, engine: CacheEngine) -> Self {
        self.django_cache = engine;
        self
    }

    /// Sets the timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The record codec of `profile`, resolved once with the policy, keys and clock
    /// ([`codec::for_profile`](crate::codec::for_profile)): what a store turns records into
    /// bytes with.
    ///
    /// ```
    /// use tessera::store::OpenOptions;
    /// use tessera::{ExpiryPolicy, Profile};
    ///
    /// # fn main() -> Result<(), tessera::codec::CodecError> {
    /// let options = OpenOptions::default().with_profile(Profile::FlaskSession, ExpiryPolicy::default());
    /// assert_eq!(options.codec()?.profile(), Profile::FlaskSession);
    /// # Ok(()) }
    /// ```
    pub fn codec(&self) -> Result<crate::codec::SharedCodec, crate::codec::CodecError> {
        crate::codec::for_profile(
            self.profile,
            self.policy,
            self.keys.as_ref(),
            self.clock.clone(),
        )
    }

    /// The record codec a store on `backend` keeps `profile`'s records with: the
    /// [`PickledCodec`](crate::codec::PickledCodec) where the framework pickles there
    /// ([`Backend::pickles`]), [`codec`](Self::codec) otherwise.
    ///
    /// ```
    /// use tessera::store::{Backend, OpenOptions};
    /// use tessera::{ExpiryPolicy, Profile};
    ///
    /// # fn main() -> Result<(), tessera::codec::CodecError> {
    /// let options = OpenOptions::default().with_profile(Profile::FlaskSession, ExpiryPolicy::default());
    /// assert_eq!(options.codec_for(Backend::File)?.memcached_flags(), 1); // a pickle
    /// assert_eq!(options.codec_for(Backend::Redis)?.memcached_flags(), 0); // msgpack
    /// # Ok(()) }
    /// ```
    pub fn codec_for(
        &self,
        backend: Backend,
    ) -> Result<crate::codec::SharedCodec, crate::codec::CodecError> {
        if backend.pickles(self.profile) {
            let codec = crate::codec::PickledCodec::new(self.profile, self.policy)?
                .with_clock(self.clock.clone());
            return Ok(std::sync::Arc::new(codec));
        }
        self.codec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_never_print_key_material() {
        let secret = "options-debug-secret-key-0123456789abcdef";
        let options = OpenOptions::default()
            .with_keys(KeyRing::new(crate::crypto::SecretKey::new(secret).unwrap()))
            .with_cookie_name("sessionid");
        let shown = format!("{options:?}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("sessionid"));
    }
}
