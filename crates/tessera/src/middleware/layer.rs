use std::sync::Arc;

use tower_layer::Layer;

use super::ids::IdCookie;
use super::{Backend, SessionService, Shared};
use crate::config::{ConfigError, SessionConfig};
use crate::cookie_session::{CookieCodec, CookieFormat, NativeCookieCodec};
use crate::crypto::{Purpose, Signer};
use crate::interop::django::DjangoCookieCodec;
use crate::interop::flask::FlaskCookieCodec;
use crate::interop::itsdangerous::ItsSigner;
use crate::interop::{flask_session, Profile};
use crate::storage::Storage;

/// Adds sessions to a tower service (see the [module docs](super) for the lifecycle).
///
/// ```
/// use axum::{routing::get, Router};
/// use tessera::{Session, SessionConfig, SessionLayer, Storage, ValueError};
///
/// async fn counter(session: Session) -> Result<String, ValueError> {
///     let n = session.update("n", |n: Option<u64>| n.unwrap_or(0) + 1)?;
///     Ok(n.to_string())
/// }
///
/// # async fn example() -> Result<(), tessera::ConfigError> {
/// let config = SessionConfig::builder()
///     .secret_key("an example secret key, 32+ bytes long")
///     .build()?;
/// let layer = SessionLayer::new(Storage::from_config(&config).await?, config)?;
/// let app: Router = Router::new().route("/", get(counter)).layer(layer);
/// # let _ = app; Ok(()) }
/// ```
///
/// `Router::layer` wraps each route and adds axum's own cost of one layer level (a boxed route
/// and future) to every request. Wrapped around the whole router instead, a request pays only
/// for the session layer, and the fallback has sessions too:
///
/// ```
/// use axum::{extract::Request, routing::get, Router, ServiceExt};
/// use tower_layer::Layer as _;
///
/// # async fn example(layer: tessera::SessionLayer) -> std::io::Result<()> {
/// let app = layer.layer(Router::new().route("/", get(|| async { "hi" })));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, ServiceExt::<Request>::into_make_service(app)).await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

impl SessionLayer {
    /// A layer keeping sessions in `storage`, configured by `config`.
    ///
    /// Fails at startup, not at request time, when a needed secret key is missing: cookie
    /// sessions always need one, server-side stores when the id is signed (the default).
    pub fn new(storage: Storage, config: SessionConfig) -> Result<Self, ConfigError> {
        let backend = match storage {
            Storage::Cookie(format) => {
                let keys = config.require_keys("a cookie session (SESSION_URL=cookie…)")?;
                let codec: Arc<dyn CookieCodec> = match (config.profile, format) {
                    (Profile::Native, _) => {
                        Arc::new(NativeCookieCodec::new(format, keys, config.compress))
                    }
                    (Profile::Flask, CookieFormat::Signed) => {
                        Arc::new(FlaskCookieCodec::new(keys, config.policy))
                    }
                    (Profile::Django, CookieFormat::Signed) => {
                        Arc::new(DjangoCookieCodec::new(keys, config.policy))
                    }
                    (Profile::FlaskSession, _) => {
                        return Err(ConfigError::invalid(
                            "SESSION_URL",
                            "the flask-session profile keeps sessions in a server-side store; set SESSION_URL to one (redis://…)",
                        ))
                    }
                    (profile, _) => {
                        return Err(ConfigError::invalid(
                            "SESSION_URL",
                            format!("the {profile} profile's cookie sessions are signed, not encrypted; use SESSION_URL=cookie"),
                        ))
                    }
                };
                Backend::Cookie(codec)
            }
            Storage::Store(store) if store.profile() != config.profile => {
                return Err(ConfigError::invalid(
                    "SESSION_PROFILE",
                    format!(
                        "the store keeps the {} profile's format but the configuration names the {} profile; open the store with this configuration (Storage::from_config)",
                        store.profile(),
                        config.profile
                    ),
                ))
            }
            Storage::Store(store) => {
                let signed = "a signed session id (SESSION_USE_SIGNER, on by default; turn it off to store unsigned ids)";
                let ids = match (config.profile, config.sign_id) {
                    (Profile::Native | Profile::FlaskSession, false) => IdCookie::Bare,
                    (Profile::Native, true) => {
                        IdCookie::Signed(Signer::new(config.require_keys(signed)?, Purpose::IdCookie))
                    }
                    (Profile::FlaskSession, true) => IdCookie::FlaskSession(ItsSigner::new(
                        config.require_keys(signed)?,
                        flask_session::ID_SALT,
                    )),
                    // Django's cookie carries the bare session key, whatever SESSION_USE_SIGNER
                    // says: that is what a Django app sets and reads.
                    (Profile::Django, _) => IdCookie::Bare,
                    (profile, _) => {
                        return Err(ConfigError::invalid(
                            "SESSION_PROFILE",
                            format!("the {profile} profile covers cookie sessions (SESSION_URL=cookie); it has no server-side format"),
                        ))
                    }
                };
                Backend::Store { store, ids }
            }
        };
        Ok(Self {
            shared: Arc::new(Shared {
                store_bounds_itself: match &backend {
                    Backend::Store { store, .. } => store
                        .bounded_by()
                        .is_some_and(|bound| bound <= config.store_timeout),
                    Backend::Cookie(_) => false,
                },
                config,
                backend,
                queues: Default::default(),
                events: None,
            }),
        })
    }

    /// Calls `events` with every [`SessionEvent`](crate::events::SessionEvent): sessions
    /// created, cycled, flushed, revoked, and saves retried after a conflict. See
    /// [`crate::events`]; the hook must not block.
    #[must_use]
    pub fn with_events(self, events: impl crate::events::SessionEvents) -> Self {
        let hook = Some(crate::events::Hook(Arc::new(events)));
        let shared = match Arc::try_unwrap(self.shared) {
            Ok(mut shared) => {
                shared.events = hook;
                shared
            }
            // A clone of the layer is in use: the new layer gets its own commit queues.
            Err(shared) => Shared {
                config: shared.config.clone(),
                backend: shared.backend.clone(),
                store_bounds_itself: shared.store_bounds_itself,
                queues: Default::default(),
                events: hook,
            },
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// The users' side of this layer's sessions: list a user's sessions, revoke them (from an
    /// admin task, after a password change). In a handler, extract [`Users`](crate::users::Users)
    /// instead.
    pub fn users(&self) -> crate::users::Users {
        self.shared.users()
    }

    /// A layer whose storage is the one `config`'s `SESSION_URL` names.
    pub async fn from_config(config: SessionConfig) -> Result<Self, ConfigError> {
        let storage = Storage::from_config(&config).await?;
        Self::new(storage, config)
    }

    /// The configuration in force.
    pub fn config(&self) -> &SessionConfig {
        &self.shared.config
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService::new(inner, self.shared.clone())
    }
}
