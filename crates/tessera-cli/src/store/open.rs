//! Which store a command works on: the library's own environment variables (`SESSION_URL`,
//! `SESSION_CACHE_URL`, `SECRET_KEY`, `SECRET_KEY_FALLBACKS`, `SESSION_PROFILE`,
//! `SESSION_KEY_PREFIX`, `SESSION_STORE_TIMEOUT_MS`, …), overridden by flags.

use clap::Args;
use tessera::config::SessionConfigBuilder;
use tessera::store::SharedStore;
use tessera::{Profile, SessionConfig, Storage};

use super::Failure;

/// The store flags every store command takes; each overrides its environment variable.
#[derive(Debug, Clone, Args)]
pub(crate) struct StoreArgs {
    /// The store's URL [default: $SESSION_URL].
    #[arg(long = "store", value_name = "URL")]
    pub(crate) url: Option<String>,
    /// Whose format the store keeps: native, flask-session or django [default:
    /// $SESSION_PROFILE, else native].
    #[arg(long, value_name = "PROFILE")]
    pub(crate) profile: Option<Profile>,
    /// What the store puts before each id [default: $SESSION_KEY_PREFIX, else the profile's].
    #[arg(long, value_name = "PREFIX")]
    pub(crate) key_prefix: Option<String>,
}

/// The settings a command runs with: the environment, then `args`.
pub(crate) fn config(args: &StoreArgs) -> Result<SessionConfig, Failure> {
    let mut builder = SessionConfigBuilder::from_env().map_err(Failure::config)?;
    if let Some(url) = &args.url {
        builder = builder.url(url.clone());
    } else if std::env::var_os("SESSION_URL").is_none() {
        return Err(Failure::Usage(
            "no store: pass --store URL or set SESSION_URL".to_owned(),
        ));
    }
    if let Some(profile) = args.profile {
        builder = builder.profile(profile);
    }
    if let Some(prefix) = &args.key_prefix {
        builder = builder.key_prefix(prefix.clone());
    }
    // Operators work on records as they are stored: with SESSION_HASH_IDS, by their hashes.
    builder.hash_ids(false).build().map_err(Failure::config)
}

/// The store `config` names, with its cache in front if `SESSION_CACHE_URL` is set (so a
/// deletion also drops the cached copy).
pub(crate) async fn open(config: &SessionConfig) -> Result<SharedStore, Failure> {
    match Storage::from_config(config)
        .await
        .map_err(Failure::config)?
    {
        Storage::Store(store) => Ok(store),
        _ => Err(Failure::Usage(format!(
            "{} keeps sessions in the cookie: nothing is stored on a server",
            config.url()
        ))),
    }
}
