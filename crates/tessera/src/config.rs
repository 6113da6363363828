//! [`SessionConfig`]: every setting, built in code or read from the environment with the names
//! Flask and Django use.

mod defaults;
mod devices;
mod env;
mod timeouts;

use std::time::Duration as StdDuration;

pub use cookie::SameSite;
pub use defaults::ProfileDefaults;
pub(crate) use devices::Device;
pub use devices::{DeviceRecording, MAX_USER_AGENT};
use time::Duration;
pub use timeouts::Timeouts;

use crate::clock::{self, SharedClock};
use crate::crypto::{KeyError, KeyRing, SecretKey};
use crate::expiry::ExpiryPolicy;
use crate::interop::Profile;

/// The cookie name Flask uses; Django's is `sessionid` (see [`ProfileDefaults`]).
pub const DEFAULT_COOKIE_NAME: &str = "session";
pub use crate::store::DEFAULT_STORE_TIMEOUT;
/// How often a conflicting save is retried on a fresh copy of the record.
pub const DEFAULT_SAVE_RETRIES: u32 = 32;
/// How long a save keeps retrying after conflicts before the request gets `409 Conflict`.
pub const DEFAULT_SAVE_RETRY_TIME: StdDuration = StdDuration::from_secs(1);
/// The largest `Set-Cookie` header value sent (Werkzeug's limit; browsers drop bigger cookies).
pub const MAX_COOKIE_SIZE: usize = 4093;

/// Cookie attributes.
#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub(crate) name: String,
    pub(crate) domain: Option<String>,
    pub(crate) path: String,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: Option<SameSite>,
    /// The attributes after the value as `Set-Cookie` writes them (`; HttpOnly; SameSite=Lax;
    /// Path=/`…), rendered once when the configuration is built.
    pub(crate) attributes: String,
}

impl CookieSettings {
    /// The cookie's name (with its `__Host-` prefix when configured).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The attributes in the order the `cookie` crate writes them.
    pub(crate) fn render_attributes(&self) -> String {
        let mut out = String::new();
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if let Some(same_site) = self.same_site {
            out.push_str(match same_site {
                SameSite::Strict => "; SameSite=Strict",
                SameSite::Lax => "; SameSite=Lax",
                SameSite::None => "; SameSite=None",
            });
        }
        if self.secure {
            out.push_str("; Secure");
        }
        out.push_str("; Path=");
        out.push_str(&self.path);
        if let Some(domain) = &self.domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        out
    }
}

/// What a save does with a write based on a value a concurrent request has changed since the
/// request read it (`get` then `insert` of the same key; see
/// [concurrent requests](crate::Session#concurrent-requests)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StaleWrites {
    /// Refuse the save: nothing of the request is stored and the response becomes
    /// `409 Conflict` (the default; `SESSION_STALE_WRITES=conflict`). No update is lost
    /// silently.
    #[default]
    Conflict,
    /// Keep the request's value over the newer one: the other request's update of that key is
    /// lost (`SESSION_STALE_WRITES=last-writer-wins`, what most session libraries do).
    LastWriterWins,
}

/// What a request gets when the server-side store fails or times out while its session is
/// loaded (`SESSION_STORE_OUTAGE`). Saving is not affected: a save that fails after a
/// successful load is always `503 Service Unavailable`, since the request's writes were not
/// kept. Cookie sessions never load from a store, and a corrupt record is a fresh session in
/// either mode.
///
/// ```
/// use tessera::config::StoreOutage;
/// use tessera::SessionConfig;
///
/// let config = SessionConfig::builder()
///     .store_outage(StoreOutage::Anonymous)
///     .build()?;
/// assert_eq!(config.store_outage(), StoreOutage::Anonymous);
/// # Ok::<(), tessera::ConfigError>(())
/// ```
///
/// # Risks of `Anonymous`
///
/// During an outage every request looks like a visitor who is not logged in:
///
/// - authorization must deny when the user is missing from the session, never grant: an
///   "anonymous" session is not an "allowed" one;
/// - CSRF tokens kept in the session are missing, so form posts fail their check;
/// - rate limits, lockout counters and anything else counted in the session are not
///   enforced, since nothing can be counted;
/// - a handler that writes the session gets `503` only after it ran: side effects before the
///   write (a payment, an email) have happened. Check
///   [`Session::store_unavailable`](crate::Session::store_unavailable) first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StoreOutage {
    /// The request gets `503 Service Unavailable`: the axum extractor rejects it, and
    /// [`LazySession::load`](crate::LazySession::load) returns
    /// [`SessionError::Store`](crate::SessionError::Store) (the default;
    /// `SESSION_STORE_OUTAGE=unavailable`).
    #[default]
    Unavailable,
    /// The handler gets an empty, read-only session whose
    /// [`store_unavailable`](crate::Session::store_unavailable) is `true`
    /// (`SESSION_STORE_OUTAGE=anonymous`). The response never sets, refreshes or deletes the
    /// cookie, so the user's session is found again once the store is back. If the handler
    /// changed that session in any way, nothing is sent to the store and the response is
    /// replaced by a `503`, as for a failed save
    /// ([`SessionError::ReadOnly`](crate::SessionError::ReadOnly)).
    Anonymous,
}

/// All session settings. Build one with [`SessionConfig::builder`] or
/// [`SessionConfig::from_env`].
///
/// ```
/// use tessera::SessionConfig;
/// use time::Duration;
///
/// let config = SessionConfig::builder()
///     .secret_key("a-secret-of-at-least-thirty-two-bytes!!")
///     .cookie_name("sessionid")
///     .secure(true)
///     .lifetime(Duration::weeks(2))
///     .build()?;
/// assert_eq!(config.cookie().name(), "sessionid");
/// # Ok::<(), tessera::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub(crate) keys: Option<KeyRing>,
    pub(crate) cookie: CookieSettings,
    pub(crate) policy: ExpiryPolicy,
    pub(crate) save_every_request: bool,
    pub(crate) refresh_each_request: bool,
    pub(crate) sign_id: bool,
    pub(crate) compress: bool,
    pub(crate) key_prefix: String,
    pub(crate) url: String,
    pub(crate) cache_url: Option<String>,
    pub(crate) store_timeout: StdDuration,
    pub(crate) save_retries: u32,
    pub(crate) save_retry_time: StdDuration,
    pub(crate) stale_writes: StaleWrites,
    pub(crate) store_outage: StoreOutage,
    pub(crate) hash_ids: bool,
    pub(crate) timeouts: Timeouts,
    pub(crate) devices: DeviceRecording,
    pub(crate) profile: Profile,
    pub(crate) clock: SharedClock,
}

impl SessionConfig {
    /// A builder with the defaults of the profile it ends up with ([`ProfileDefaults`]).
    pub fn builder() -> SessionConfigBuilder {
        SessionConfigBuilder::default()
    }

    /// Reads the `SECRET_KEY` / `SESSION_*` environment variables (see the crate docs for the
    /// table); a variable that is set but invalid is an error naming it.
    pub fn from_env() -> Result<Self, ConfigError> {
        SessionConfigBuilder::from_env()?.build()
    }

    /// The key ring, if a secret key was set.
    pub fn keys(&self) -> Option<&KeyRing> {
        self.keys.as_ref()
    }

    /// Cookie attributes.
    pub fn cookie(&self) -> &CookieSettings {
        &self.cookie
    }

    /// The global expiry policy.
    pub fn policy(&self) -> ExpiryPolicy {
        self.policy
    }

    /// The store URL (`SESSION_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The store put in front of the `SESSION_URL` store as a cache (`SESSION_CACHE_URL`),
    /// if any; see [`CachedStore`](crate::store::cached::CachedStore).
    pub fn cache_url(&self) -> Option<&str> {
        self.cache_url.as_deref()
    }

    /// The prefix server-side stores put before session ids (`SESSION_KEY_PREFIX`).
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The bound on every store operation (`SESSION_STORE_TIMEOUT_MS`).
    pub fn store_timeout(&self) -> StdDuration {
        self.store_timeout
    }

    /// The clock expiry is judged by.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The session formats in use (`SESSION_PROFILE`).
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// What a save does with a stale read-based write.
    pub fn stale_writes(&self) -> StaleWrites {
        self.stale_writes
    }

    /// What a request gets when its session cannot be loaded from the store
    /// (`SESSION_STORE_OUTAGE`).
    pub fn store_outage(&self) -> StoreOutage {
        self.store_outage
    }

    /// Whether server-side stores keep records under a keyed hash of the id
    /// (`SESSION_HASH_IDS`); see [`HashedIdStore`](crate::store::hashed_ids::HashedIdStore).
    pub fn hash_ids(&self) -> bool {
        self.hash_ids
    }

    /// The idle and absolute timeouts (`SESSION_IDLE_TIMEOUT`, `SESSION_ABSOLUTE_TIMEOUT`).
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Whether and how sessions with a user note their device (`SESSION_RECORD_DEVICES`,
    /// `SESSION_CLIENT_IP_HEADER`).
    pub fn devices(&self) -> &DeviceRecording {
        &self.devices
    }

    /// The key ring, or the error Flask gives when none is set.
    pub(crate) fn require_keys(&self, needed_by: &'static str) -> Result<&KeyRing, ConfigError> {
        self.keys
            .as_ref()
            .ok_or(ConfigError::MissingSecretKey { needed_by })
    }
}

/// Builds a [`SessionConfig`]; errors surface in [`build`](Self::build).
#[derive(Debug, Clone)]
pub struct SessionConfigBuilder {
    secret: Option<Result<SecretKey, KeyError>>,
    fallbacks: Vec<Result<SecretKey, KeyError>>,
    // Settings whose default depends on the profile are `None` until set ([`ProfileDefaults`]).
    cookie_name: Option<String>,
    domain: Option<String>,
    path: String,
    secure: bool,
    http_only: bool,
    same_site: Option<SameSite>,
    same_site_set: bool,
    host_prefix: bool,
    lifetime: Option<Duration>,
    permanent: Option<bool>,
    expire_at_browser_close: bool,
    save_every_request: bool,
    refresh_each_request: Option<bool>,
    sign_id: Option<bool>,
    compress: bool,
    key_prefix: Option<String>,
    url: String,
    cache_url: Option<String>,
    store_timeout: StdDuration,
    save_retries: u32,
    save_retry_time: StdDuration,
    stale_writes: StaleWrites,
    store_outage: StoreOutage,
    hash_ids: bool,
    timeouts: Timeouts,
    devices: DeviceRecording,
    profile: Profile,
    clock: SharedClock,
}

impl Default for SessionConfigBuilder {
    fn default() -> Self {
        Self {
            secret: None,
            fallbacks: Vec::new(),
            cookie_name: None,
            domain: None,
            path: "/".to_owned(),
            secure: false,
            http_only: true,
            same_site: None,
            same_site_set: false,
            host_prefix: false,
            lifetime: None,
            permanent: None,
            expire_at_browser_close: false,
            save_every_request: false,
            refresh_each_request: None,
            sign_id: None,
            compress: false,
            key_prefix: None,
            url: "memory".to_owned(),
            cache_url: None,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            save_retries: DEFAULT_SAVE_RETRIES,
            save_retry_time: DEFAULT_SAVE_RETRY_TIME,
            stale_writes: StaleWrites::Conflict,
            store_outage: StoreOutage::Unavailable,
            hash_ids: false,
            timeouts: Timeouts::default(),
            devices: DeviceRecording::default(),
            profile: Profile::Native,
            clock: clock::system(),
        }
    }
}

impl SessionConfigBuilder {
    /// Reads the environment over the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        env::apply(Self::default(), &|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (a variable's value or `None`) over the defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        env::apply(Self::default(), &lookup)
    }

    /// The secret key (`SECRET_KEY`), at least 32 bytes.
    #[must_use]
    pub fn secret_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.secret = Some(SecretKey::new(key));
        self
    }

    /// An older key still accepted (`SECRET_KEY_FALLBACKS`); values it signed are re-signed.
    #[must_use]
    pub fn fallback_key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.fallbacks.push(SecretKey::new(key));
        self
    }

    /// The cookie's name (`SESSION_COOKIE_NAME`, default `session`; `sessionid` with the
    /// `django` profile).
    #[must_use]
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = Some(name.into());
        self
    }

    /// The cookie's `Domain` (`SESSION_COOKIE_DOMAIN`; none by default: host-only).
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// The cookie's `Path` (`SESSION_COOKIE_PATH`, default `/`).
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The cookie's `Secure` flag (`SESSION_COOKIE_SECURE`, default off; turn it on behind HTTPS).
    #[must_use]
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// The cookie's `HttpOnly` flag (`SESSION_COOKIE_HTTPONLY`, default on).
    #[must_use]
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// The cookie's `SameSite` (`SESSION_COOKIE_SAMESITE`; `None` omits it). Default `Lax`,
    /// and not sent with the `flask` and `flask-session` profiles, as Flask does.
    #[must_use]
    pub fn same_site(mut self, same_site: Option<SameSite>) -> Self {
        self.same_site = same_site;
        self.same_site_set = true;
        self
    }

    /// Prefixes the cookie name with `__Host-` (`SESSION_COOKIE_HOST_PREFIX`), which browsers
    /// only accept from HTTPS with `Path=/` and no `Domain`; `build` checks those.
    #[must_use]
    pub fn host_prefix(mut self, on: bool) -> Self {
        self.host_prefix = on;
        self
    }

    /// How long sessions live after their last save (`PERMANENT_SESSION_LIFETIME` or
    /// `SESSION_COOKIE_AGE`, default 31 days; two weeks with the `django` profile).
    #[must_use]
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Whether sessions outlive the browser by default (`SESSION_PERMANENT`, default on; off
    /// with the `flask` profile, as Flask's `session.permanent`).
    #[must_use]
    pub fn permanent(mut self, permanent: bool) -> Self {
        self.permanent = Some(permanent);
        self
    }

    /// Django's `SESSION_EXPIRE_AT_BROWSER_CLOSE` (default off); on overrides `permanent`.
    #[must_use]
    pub fn expire_at_browser_close(mut self, on: bool) -> Self {
        self.expire_at_browser_close = on;
        self
    }

    /// Save every request that loaded the session, changed or not (`SESSION_SAVE_EVERY_REQUEST`).
    #[must_use]
    pub fn save_every_request(mut self, on: bool) -> Self {
        self.save_every_request = on;
        self
    }

    /// Extend permanent sessions on every request that loads them (`SESSION_REFRESH_EACH_REQUEST`;
    /// default off, on with the `flask` and `flask-session` profiles as in Flask). Server
    /// stores only touch the deadline, and the cookie is sent again.
    #[must_use]
    pub fn refresh_each_request(mut self, on: bool) -> Self {
        self.refresh_each_request = Some(on);
        self
    }

    /// Sign the session id in the cookie of a server-side store (`SESSION_USE_SIGNER`), so a
    /// forged id is refused without a store round trip. Default on; off with the
    /// `flask-session` profile, as in Flask-Session. The `django` profile ignores it: Django's
    /// cookie carries the bare session key.
    #[must_use]
    pub fn sign_id(mut self, on: bool) -> Self {
        self.sign_id = Some(on);
        self
    }

    /// Deflate cookie sessions (`SESSION_COOKIE_COMPRESS`, default off). Mind that compressing
    /// secrets together with attacker-chosen data can leak them through the size.
    #[must_use]
    pub fn compress(mut self, on: bool) -> Self {
        self.compress = on;
        self
    }

    /// What server-side stores put before the id (`SESSION_KEY_PREFIX`, default `session:`).
    /// The `django` profile refuses it: Django's cache keys are
    /// `KEY_PREFIX:VERSION:django.contrib.sessions.cache<key>`, whose `KEY_PREFIX` and
    /// `VERSION` are the cache URL's `key_prefix` and `version` parameters.
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = Some(prefix.into());
        self
    }

    /// Which store holds sessions (`SESSION_URL`, default `memory`).
    #[must_use]
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// A store to put in front of the `url` store as a cache (`SESSION_CACHE_URL`, default
    /// none), Django's `cached_db`: for example `redis://127.0.0.1:6379` in front of a
    /// database. See [`CachedStore`](crate::store::cached::CachedStore).
    #[must_use]
    pub fn cache_url(mut self, url: impl Into<String>) -> Self {
        self.cache_url = Some(url.into());
        self
    }

    /// How long one store operation may take (`SESSION_STORE_TIMEOUT_MS`, default 3 s).
    #[must_use]
    pub fn store_timeout(mut self, timeout: StdDuration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// How many times a conflicting save is retried (default 32), each after a random pause
    /// whose bound doubles from 250 µs up to 32 ms. Retries also stop at
    /// [`save_retry_time`](Self::save_retry_time); the request then gets `409 Conflict`.
    #[must_use]
    pub fn save_retries(mut self, retries: u32) -> Self {
        self.save_retries = retries;
        self
    }

    /// How long a save keeps retrying after conflicts with other app servers
    /// (`SESSION_SAVE_RETRY_MS`, default 1 s), so a hot session never holds a request for
    /// seconds.
    #[must_use]
    pub fn save_retry_time(mut self, time: StdDuration) -> Self {
        self.save_retry_time = time;
        self
    }

    /// What a save does with a stale read-based write (`SESSION_STALE_WRITES`, default
    /// [`StaleWrites::Conflict`]).
    #[must_use]
    pub fn stale_writes(mut self, stale_writes: StaleWrites) -> Self {
        self.stale_writes = stale_writes;
        self
    }

    /// What a request gets when the store fails or times out while its session is loaded
    /// (`SESSION_STORE_OUTAGE`, default [`StoreOutage::Unavailable`]: `503`).
    ///
    /// [`StoreOutage::Anonymous`] keeps pages that can do without a session up during an
    /// outage, at a cost: logged-in users appear logged out, CSRF tokens and counters kept in
    /// the session are missing, and a handler that writes gets `503` only after it ran. Read
    /// the [risks](StoreOutage#risks-of-anonymous) before turning it on.
    ///
    /// ```
    /// use tessera::config::StoreOutage;
    /// use tessera::SessionConfig;
    ///
    /// let config = SessionConfig::builder()
    ///     .url("redis://127.0.0.1:6379")
    ///     .store_outage(StoreOutage::Anonymous)
    ///     .build()?;
    /// assert_eq!(config.store_outage(), StoreOutage::Anonymous);
    /// # Ok::<(), tessera::ConfigError>(())
    /// ```
    #[must_use]
    pub fn store_outage(mut self, store_outage: StoreOutage) -> Self {
        self.store_outage = store_outage;
        self
    }

    /// Keep server-side records under a keyed hash of the session id instead of the id
    /// (`SESSION_HASH_IDS`, default off), so a dump of the store holds no id a client could
    /// present. Needs `SECRET_KEY` (the hash is keyed by a subkey of it), the `native` profile
    /// (Python apps look records up by the bare id) and a server-side store; see
    /// [`HashedIdStore`](crate::store::hashed_ids::HashedIdStore) for key rotation. It applies
    /// to the store [`Storage::from_config`](crate::Storage::from_config) (and so
    /// [`SessionLayer::from_config`](crate::SessionLayer::from_config)) opens; wrap a store
    /// built by hand in a `HashedIdStore` yourself.
    ///
    /// ```
    /// use tessera::SessionConfig;
    ///
    /// let config = SessionConfig::builder()
    ///     .secret_key("a-secret-of-at-least-thirty-two-bytes!!")
    ///     .url("memory")
    ///     .hash_ids(true)
    ///     .build()?;
    /// assert!(config.hash_ids());
    /// # Ok::<(), tessera::ConfigError>(())
    /// ```
    #[must_use]
    pub fn hash_ids(mut self, on: bool) -> Self {
        self.hash_ids = on;
        self
    }

    /// Ends a session that has not been saved or touched for `timeout`
    /// (`SESSION_IDLE_TIMEOUT`, in seconds): its deadline is never later than `timeout` after
    /// its last save or touch, whatever its expiry says. With
    /// [`refresh_each_request`](Self::refresh_each_request) every request that loads the
    /// session touches it; without, only requests that change it count as activity. Django and
    /// Flask have no separate setting: their `SESSION_COOKIE_AGE` / `PERMANENT_SESSION_LIFETIME`
    /// with `SESSION_SAVE_EVERY_REQUEST` / `SESSION_REFRESH_EACH_REQUEST` is the nearest.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.idle = Some(timeout);
        self
    }

    /// Ends a session `timeout` after it began, however active (`SESSION_ABSOLUTE_TIMEOUT`, in
    /// seconds): its first save, or its last [`cycle_id`](crate::Session::cycle_id) (call it
    /// at login, and a login starts the count anew). Neither Django nor Flask has one.
    ///
    /// ```
    /// use time::Duration;
    ///
    /// let config = tessera::SessionConfig::builder()
    ///     .idle_timeout(Duration::minutes(30))
    ///     .absolute_timeout(Duration::hours(12))
    ///     .build()?;
    /// assert_eq!(config.timeouts().absolute, Some(Duration::hours(12)));
    /// # Ok::<(), tessera::ConfigError>(())
    /// ```
    #[must_use]
    pub fn absolute_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.absolute = Some(timeout);
        self
    }

    /// Notes, in each session that has a user, the `User-Agent` and client address of the
    /// request that last saved it (`SESSION_RECORD_DEVICES`), for a "your sessions" page.
    #[must_use]
    pub fn record_devices(mut self, on: bool) -> Self {
        self.devices.on = on;
        self
    }

    /// Takes the client address from `header`, set by a trusted reverse proxy
    /// (`SESSION_CLIENT_IP_HEADER`: `X-Forwarded-For`, whose last entry is the proxy's, or
    /// `X-Real-IP`), instead of the connection's peer address. Only behind a proxy that sets
    /// it: a client can send any header.
    #[must_use]
    pub fn client_ip_header(mut self, header: http::HeaderName) -> Self {
        self.devices.client_ip_header = Some(header);
        self
    }

    /// Which formats sessions are kept in (`SESSION_PROFILE`: `native`, `flask`, `django`),
    /// for sharing sessions with a Python app; see [`crate::interop`].
    #[must_use]
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// The clock expiry is judged by (tests inject a [`crate::clock::ManualClock`]).
    #[must_use]
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the settings and builds the config.
    pub fn build(self) -> Result<SessionConfig, ConfigError> {
        let keys = match self.secret {
            None if !self.fallbacks.is_empty() => {
                return Err(ConfigError::invalid(
                    "SECRET_KEY_FALLBACKS",
                    "fallback keys are set but SECRET_KEY is not",
                ))
            }
            None => None,
            Some(current) => {
                let mut ring = KeyRing::new(current.map_err(|source| ConfigError::Key {
                    setting: "SECRET_KEY",
                    source,
                })?);
                for fallback in self.fallbacks {
                    ring = ring.with_fallback(fallback.map_err(|source| ConfigError::Key {
                        setting: "SECRET_KEY_FALLBACKS",
                        source,
                    })?);
                }
                Some(ring)
            }
        };
        let defaults = ProfileDefaults::of(self.profile);
        if self.profile == Profile::Django && self.key_prefix.is_some() {
            return Err(ConfigError::invalid(
                "SESSION_KEY_PREFIX",
                "Django has no such setting: its cache keys are KEY_PREFIX:VERSION:django.contrib.sessions.cache<key>; give Django's KEY_PREFIX and VERSION as the cache URL's key_prefix and version parameters",
            ));
        }
        let mut cookie = CookieSettings {
            name: self
                .cookie_name
                .unwrap_or_else(|| defaults.cookie_name.to_owned()),
            domain: self.domain,
            path: self.path,
            secure: self.secure,
            http_only: self.http_only,
            same_site: if self.same_site_set {
                self.same_site
            } else {
                defaults.same_site
            },
            attributes: String::new(),
        };
        validate_cookie_name(&cookie.name)?;
        if self.host_prefix {
            if !cookie.secure || cookie.path != "/" || cookie.domain.is_some() {
                return Err(ConfigError::invalid(
                    "SESSION_COOKIE_HOST_PREFIX",
                    "a __Host- cookie needs SESSION_COOKIE_SECURE on, SESSION_COOKIE_PATH `/` and no SESSION_COOKIE_DOMAIN",
                ));
            }
            if !cookie.name.starts_with("__Host-") {
                cookie.name = format!("__Host-{}", cookie.name);
            }
        }
        // Browsers drop a prefixed cookie that breaks its prefix's rules (RFC 6265bis 4.1.3,
        // the prefix matched without regard to case as Chrome and Firefox do), so such a
        // cookie would be set and never come back: refused here instead.
        let prefixed = |prefix: &str| {
            cookie
                .name
                .get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
        };
        if prefixed("__Host-") && (!cookie.secure || cookie.path != "/" || cookie.domain.is_some())
        {
            return Err(ConfigError::invalid(
                "SESSION_COOKIE_NAME",
                "a __Host- cookie needs SESSION_COOKIE_SECURE on, SESSION_COOKIE_PATH `/` and no SESSION_COOKIE_DOMAIN",
            ));
        }
        if prefixed("__Secure-") && !cookie.secure {
            return Err(ConfigError::invalid(
                "SESSION_COOKIE_NAME",
                "a __Secure- cookie needs SESSION_COOKIE_SECURE on",
            ));
        }
        if cookie.same_site == Some(SameSite::None) && !cookie.secure {
            return Err(ConfigError::invalid(
                "SESSION_COOKIE_SAMESITE",
                "browsers refuse SameSite=None cookies without SESSION_COOKIE_SECURE on",
            ));
        }
        // Both are written into Set-Cookie as they are: no `;`, spaces or control characters.
        let attribute = |v: &str| v.bytes().all(|b| b.is_ascii_graphic() && b != b';');
        if let Some(domain) = cookie
            .domain
            .as_deref()
            .filter(|d| !attribute(d) || d.is_empty())
        {
            return Err(ConfigError::invalid(
                "SESSION_COOKIE_DOMAIN",
                format!("{domain:?} is not a domain: printable ASCII without `;` or spaces"),
            ));
        }
        if !attribute(&cookie.path) {
            return Err(ConfigError::invalid(
                "SESSION_COOKIE_PATH",
                "the path is printable ASCII without `;` or spaces",
            ));
        }
        if !cookie.path.starts_with('/') {
            return Err(ConfigError::invalid(
                "SESSION_COOKIE_PATH",
                "the path must start with `/`",
            ));
        }
        let lifetime = self.lifetime.unwrap_or(defaults.lifetime);
        if lifetime <= Duration::ZERO {
            return Err(ConfigError::invalid(
                "PERMANENT_SESSION_LIFETIME",
                "the lifetime must be positive",
            ));
        }
        if self.store_timeout.is_zero() {
            return Err(ConfigError::invalid(
                "SESSION_STORE_TIMEOUT_MS",
                "the timeout must be positive",
            ));
        }
        if self.hash_ids {
            check_hash_ids(self.profile, &self.url, keys.is_some())?;
        }
        for (name, t) in [
            ("SESSION_IDLE_TIMEOUT", self.timeouts.idle),
            ("SESSION_ABSOLUTE_TIMEOUT", self.timeouts.absolute),
        ] {
            if t.is_some_and(|t| t <= Duration::ZERO) {
                return Err(ConfigError::invalid(
                    name,
                    "the timeout must be a positive number of seconds",
                ));
            }
        }
        cookie.attributes = cookie.render_attributes();
        Ok(SessionConfig {
            keys,
            cookie,
            policy: ExpiryPolicy::new(
                lifetime,
                self.permanent.unwrap_or(defaults.permanent) && !self.expire_at_browser_close,
            ),
            save_every_request: self.save_every_request,
            refresh_each_request: self
                .refresh_each_request
                .unwrap_or(defaults.refresh_each_request),
            sign_id: self.sign_id.unwrap_or(defaults.sign_id),
            compress: self.compress,
            key_prefix: self
                .key_prefix
                .unwrap_or_else(|| defaults.key_prefix.to_owned()),
            url: self.url,
            cache_url: self.cache_url,
            store_timeout: self.store_timeout,
            save_retries: self.save_retries,
            save_retry_time: self.save_retry_time,
            stale_writes: self.stale_writes,
            store_outage: self.store_outage,
            hash_ids: self.hash_ids,
            timeouts: self.timeouts,
            devices: self.devices,
            profile: self.profile,
            clock: self.clock,
        })
    }
}

/// `SESSION_HASH_IDS` needs a native server-side store and a key to hash with.
fn check_hash_ids(profile: Profile, url: &str, has_key: bool) -> Result<(), ConfigError> {
    if profile != Profile::Native {
        return Err(ConfigError::invalid(
            "SESSION_HASH_IDS",
            format!("the {profile} profile keeps records under the bare session id, which its Python app looks up; hashed ids need SESSION_PROFILE=native"),
        ));
    }
    let scheme = url.split("://").next().unwrap_or(url);
    if matches!(scheme, "cookie" | "cookie+signed" | "cookie+encrypted") {
        return Err(ConfigError::invalid(
            "SESSION_HASH_IDS",
            "SESSION_URL names cookie sessions, which store nothing server-side to key by a hash; use a server-side store or turn SESSION_HASH_IDS off",
        ));
    }
    if !has_key {
        return Err(ConfigError::MissingSecretKey {
            needed_by: "SESSION_HASH_IDS",
        });
    }
    Ok(())
}

fn validate_cookie_name(name: &str) -> Result<(), ConfigError> {
    // RFC 6265 cookie-name is an RFC 7230 token.
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(ConfigError::invalid(
            "SESSION_COOKIE_NAME",
            "a cookie name is a non-empty token: letters, digits and !#$%&'*+-.^_`|~",
        ));
    }
    Ok(())
}

/// The configuration is unusable; raised at startup, never at request time.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A secret key is needed and none was set.
    #[error("the session is unavailable because no secret key was set: {needed_by} needs SECRET_KEY (at least 32 bytes; generate one with `openssl rand -base64 48`)")]
    MissingSecretKey {
        /// What needs the key.
        needed_by: &'static str,
    },
    /// A secret key was refused.
    #[error("{setting}: the secret key is refused")]
    Key {
        /// The setting that held it.
        setting: &'static str,
        /// Why it was refused.
        #[source]
        source: KeyError,
    },
    /// A setting has an invalid value.
    #[error("{setting}: {reason}")]
    Invalid {
        /// The setting (its environment variable's name).
        setting: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The store URL could not be opened.
    #[error("SESSION_URL: the session store cannot be opened")]
    Store(#[from] crate::store::Error),
    /// The cache store URL could not be opened.
    #[error("SESSION_CACHE_URL: the cache store cannot be opened")]
    Cache(#[source] crate::store::Error),
}

impl ConfigError {
    pub(crate) fn invalid(setting: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            setting,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_follow_flask() {
        let c = SessionConfig::builder().build().unwrap();
        assert_eq!(c.cookie.name, "session");
        assert!(c.cookie.http_only);
        assert_eq!(c.cookie.same_site, Some(SameSite::Lax));
        assert_eq!(c.policy.lifetime(), Duration::days(31));
        assert!(c.policy.permanent_by_default());
        assert!(c.keys.is_none());
        assert_eq!(c.stale_writes(), StaleWrites::Conflict);
        assert_eq!(c.store_outage(), StoreOutage::Unavailable);
    }

    #[test]
    fn host_prefix_needs_secure_root_cookies() {
        let err = SessionConfig::builder()
            .host_prefix(true)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("SESSION_COOKIE_HOST_PREFIX"));
        let c = SessionConfig::builder()
            .host_prefix(true)
            .secure(true)
            .build()
            .unwrap();
        assert_eq!(c.cookie.name, "__Host-session");
    }

    #[test]
    fn bad_settings_name_themselves() {
        let cases = [
            (SessionConfig::builder().secret_key("short"), "SECRET_KEY"),
            (
                SessionConfig::builder().secret_key(KEY).fallback_key("x"),
                "SECRET_KEY_FALLBACKS",
            ),
            (
                SessionConfig::builder().fallback_key(KEY),
                "SECRET_KEY_FALLBACKS",
            ),
            (
                SessionConfig::builder().cookie_name("a b"),
                "SESSION_COOKIE_NAME",
            ),
            (
                SessionConfig::builder().same_site(Some(SameSite::None)),
                "SESSION_COOKIE_SAMESITE",
            ),
            (SessionConfig::builder().path("x"), "SESSION_COOKIE_PATH"),
            (
                SessionConfig::builder().path("/a; Secure"),
                "SESSION_COOKIE_PATH",
            ),
            (
                SessionConfig::builder().domain("example.com; SameSite=None"),
                "SESSION_COOKIE_DOMAIN",
            ),
            (
                SessionConfig::builder().lifetime(Duration::ZERO),
                "PERMANENT_SESSION_LIFETIME",
            ),
        ];
        for (builder, name) in cases {
            let err = builder.build().unwrap_err().to_string();
            assert!(err.starts_with(name), "{err}");
        }
    }

    #[test]
    fn hashed_ids_need_a_native_server_store_and_a_key() {
        let base = || SessionConfig::builder().secret_key(KEY).hash_ids(true);
        for profile in [Profile::Flask, Profile::FlaskSession, Profile::Django] {
            let err = base()
                .profile(profile)
                .url("redis://127.0.0.1:6379")
                .build()
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("SESSION_HASH_IDS"), "{profile}: {err}");
        }
        for url in ["cookie", "cookie+signed", "cookie+encrypted"] {
            let err = base().url(url).build().unwrap_err().to_string();
            assert!(err.starts_with("SESSION_HASH_IDS"), "{url}: {err}");
        }
        let err = SessionConfig::builder()
            .hash_ids(true)
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("SESSION_HASH_IDS needs SECRET_KEY"), "{err}");
        assert!(base().url("memory").build().unwrap().hash_ids());
        assert!(!SessionConfig::builder().build().unwrap().hash_ids());
    }

    #[test]
    fn missing_key_reads_like_flask() {
        let c = SessionConfig::builder().build().unwrap();
        let err = c.require_keys("cookie sessions").unwrap_err().to_string();
        assert!(err.contains("no secret key was set"), "{err}");
    }
}
