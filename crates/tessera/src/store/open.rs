//! [`open`]: a store picked by its URL.

#[cfg(any(
    feature = "file",
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite"
))]
use crate::interop::Profile;

use super::matrix::{keepers, Support};
use super::url::{enabled_schemes, redact_url, Backend};
use super::{Error, OpenOptions, SharedStore};

/// Opens the server-side store a URL names.
///
/// The URLs are those of the crate's [storage URL table](crate#storage-urls-session_url),
/// cookie sessions aside; each opens the store of its [`Backend`]:
/// [`MemoryStore`](crate::store::memory::MemoryStore),
/// [`RedisStore`](crate::store::redis::RedisStore) (one node, TLS or a Cluster),
/// [`MemcachedStore`](crate::store::memcached::MemcachedStore),
/// [`FileStore`](crate::store::file::FileStore), the SQL stores
/// ([`PostgresStore`](crate::store::sql::PostgresStore),
/// [`MySqlStore`](crate::store::sql::MySqlStore),
/// [`SqliteStore`](crate::store::sql::SqliteStore)) and
/// [`MongoStore`](crate::store::mongodb::MongoStore). A backend that does not keep
/// `options.profile`'s records ([`Backend::keeps`]) is refused with the reason and the backends
/// that do; one whose cargo feature is off, with the feature to enable.
///
/// Every store takes `options`' key prefix and timeout; those that judge expiry themselves
/// (memory, file, SQL, MongoDB) take its clock. To put a cache in front of a database, open
/// both and wrap them in a [`CachedStore`](crate::store::cached::CachedStore) (or set `SESSION_CACHE_URL`, see
/// [`crate::Storage::from_config`]).
///
/// With the `django` profile, SQL URLs open a [`DjangoDbStore`](crate::store::sql::DjangoDbStore)
/// on Django's `django_session` table and `file:///dir` a
/// [`DjangoFileStore`](crate::store::django_file::DjangoFileStore) in Django's
/// `SESSION_FILE_PATH` layout; both need `options.keys`. With the `flask-session` profile,
/// `file:///dir[?threshold=500&mode=0600]` opens a
/// [`FlaskSessionFileStore`](crate::store::flask_session_file::FlaskSessionFileStore) in
/// Flask-Session's `SESSION_FILE_DIR`, cachelib's layout.
///
/// SQL URLs take `?table=` (default `tessera_sessions`), `?migrate=false` and
/// `?max_connections=`; PostgreSQL also `?schema=`. MongoDB URLs take `?collection=` (default
/// `sessions`) and `?migrate=false`; the database is the URL's path (default `tessera`, or
/// `flask_session` with the `flask-session` profile, whose SQL table defaults to `sessions`).
/// Other parameters go to the database driver. Stores opened here take the clock, key prefix,
/// timeout and profile from `options`.
///
/// Cookie sessions (`cookie`, `cookie+signed`, `cookie+encrypted`) are not stores: open them
/// with [`crate::Storage::open`], which accepts every URL this function does.
///
/// ```
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::{open, OpenOptions};
///
/// let store = open("memory://?capacity=1000", &OpenOptions::default()).await?;
/// # let _ = store; Ok(()) }
/// ```
pub async fn open(url: &str, options: &OpenOptions) -> Result<SharedStore, Error> {
    let Some(backend) = Backend::of_url(url) else {
        return Err(Error::BadUrl {
            url: redact_url(url),
            reason: format!("unknown scheme; this build supports: {}", enabled_schemes()),
        });
    };
    if let Support::Refused(why) = backend.keeps(options.profile) {
        return Err(Error::BadUrl {
            url: redact_url(url),
            reason: format!(
                "the {backend} store does not keep the {} profile's records: {why}; stores that do: {}",
                options.profile,
                keepers(options.profile)
            ),
        });
    }
    if !backend.is_enabled() {
        return Err(feature_disabled(backend, url));
    }
    connect(backend, url, options).await
}

/// The URL and options a Redis or memcached store opens with: as given, or with the `django`
/// profile those of Django's cache engine ([`super::django_cache`]).
#[cfg(any(feature = "redis", feature = "memcached"))]
fn cache_engine(url: &str, options: &OpenOptions) -> Result<(String, OpenOptions), Error> {
    if options.profile == crate::interop::Profile::Django {
        super::django_cache::options(url, options)
    } else {
        Ok((url.to_owned(), options.clone()))
    }
}

/// The error for a URL whose backend this build leaves out.
fn feature_disabled(backend: Backend, url: &str) -> Error {
    Error::FeatureDisabled {
        scheme: url.split(':').next().unwrap_or_default().to_owned(),
        feature: backend.feature(),
        enabled: enabled_schemes(),
    }
}

/// Opens `url` on `backend`, whose feature is enabled and which keeps `options.profile`.
async fn connect(backend: Backend, url: &str, options: &OpenOptions) -> Result<SharedStore, Error> {
    match backend {
        #[cfg(feature = "memory")]
        Backend::Memory => Ok(std::sync::Arc::new(
            super::memory::MemoryStore::from_url(url)?.with_clock(options.clock.clone()),
        )),
        #[cfg(feature = "redis")]
        Backend::Redis => {
            let (url, options) = cache_engine(url, options)?;
            Ok(std::sync::Arc::new(
                super::redis::RedisStore::connect(&url, &options).await?,
            ))
        }
        #[cfg(feature = "memcached")]
        Backend::Memcached => {
            let (url, options) = cache_engine(url, options)?;
            Ok(std::sync::Arc::new(
                super::memcached::MemcachedStore::connect(&url, &options).await?,
            ))
        }
        #[cfg(feature = "file")]
        Backend::File if options.profile == Profile::Django => Ok(std::sync::Arc::new(
            super::django_file::DjangoFileStore::open(url, options).await?,
        )),
        #[cfg(feature = "file")]
        Backend::File if options.profile == Profile::FlaskSession => Ok(std::sync::Arc::new(
            super::flask_session_file::FlaskSessionFileStore::open(url, options).await?,
        )),
        #[cfg(feature = "file")]
        Backend::File => Ok(std::sync::Arc::new(
            super::file::FileStore::open(url, options).await?,
        )),
        #[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
        Backend::Postgres | Backend::MySql | Backend::Sqlite
            if options.profile == Profile::Django =>
        {
            Ok(std::sync::Arc::new(
                super::sql::DjangoDbStore::open(url, options).await?,
            ))
        }
        #[cfg(feature = "postgres")]
        Backend::Postgres => Ok(std::sync::Arc::new(
            super::sql::PostgresStore::builder(url)?
                .options(options)
                .build()
                .await?,
        )),
        #[cfg(feature = "mysql")]
        Backend::MySql => Ok(std::sync::Arc::new(
            super::sql::MySqlStore::builder(url)?
                .options(options)
                .build()
                .await?,
        )),
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => Ok(std::sync::Arc::new(
            super::sql::SqliteStore::builder(url)?
                .options(options)
                .build()
                .await?,
        )),
        #[cfg(feature = "mongodb")]
        Backend::MongoDb => Ok(std::sync::Arc::new(
            super::mongodb::MongoStore::builder(url)?
                .options(options)
                .build()
                .await?,
        )),
        // A backend whose feature is off (which `open` refuses before calling this).
        #[allow(unreachable_patterns)]
        _ => {
            let _ = options;
            Err(feature_disabled(backend, url))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expiry::ExpiryPolicy;
    use crate::interop::Profile;

    #[tokio::test]
    async fn unknown_schemes_list_what_is_enabled() {
        let err = open("nosuch://x", &OpenOptions::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown scheme"), "{err}");
        assert!(err.contains("cookie+encrypted"), "{err}");
    }

    #[tokio::test]
    async fn every_server_scheme_is_known_with_or_without_its_feature() {
        let options = OpenOptions::default().with_timeout(std::time::Duration::from_millis(300));
        let dir = std::env::temp_dir().join(format!("tessera-open-{}", std::process::id()));
        let urls = [
            "redis://127.0.0.1:1".to_owned(),
            "rediss://127.0.0.1:1".to_owned(),
            "redis+cluster://127.0.0.1:1,127.0.0.1:2".to_owned(),
            "memcached://127.0.0.1:1".to_owned(),
            format!("file://{}", dir.display()),
        ];
        for url in &urls {
            let backend = Backend::of_url(url).unwrap();
            match open(url, &options).await {
                Err(Error::FeatureDisabled { feature, .. }) => {
                    assert!(!backend.is_enabled(), "{url}");
                    assert_eq!(feature, backend.feature());
                }
                Err(Error::BadUrl { reason, .. }) => panic!("{url} was refused: {reason}"),
                // Nothing listens on port 1: connecting fails, but the URL was understood.
                Err(Error::Unavailable { .. } | Error::Timeout { .. }) | Ok(_) => {
                    assert!(backend.is_enabled(), "{url}");
                }
                Err(other) => panic!("{url}: {other}"),
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn flask_session_files_open_in_cachelibs_layout() {
        let options =
            OpenOptions::default().with_profile(Profile::FlaskSession, ExpiryPolicy::default());
        let dir = std::env::temp_dir().join(format!("tessera-open-fs-{}", std::process::id()));
        let url = format!("file://{}?threshold=7&mode=0640", dir.display());
        let opened = open(&url, &options).await;
        if cfg!(feature = "file") {
            let store = opened.unwrap();
            assert_eq!(store.profile(), Profile::FlaskSession);
            let shown = format!("{store:?}");
            assert!(
                shown.contains("FlaskSessionFileStore") && shown.contains("threshold: 7"),
                "{shown}"
            );
            // cachelib's count file, written on opening as cachelib's constructor does.
            let count =
                dir.join("79bc207ee04a581ab2348ca1f3494e64cd0ec36128735b8c6bc85ddd8fe1938c");
            assert_eq!(std::fs::read(count).unwrap(), b"\0\0\0\0\x80\x05K\x00.");
            let bad = format!("file://{}?mode=0o9", dir.display());
            assert!(matches!(
                open(&bad, &options).await,
                Err(Error::BadUrl { .. })
            ));
        } else {
            assert!(matches!(opened, Err(Error::FeatureDisabled { .. })));
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn disabled_stores_name_their_feature() {
        for backend in Backend::ALL.into_iter().filter(|b| !b.is_enabled()) {
            for scheme in backend.schemes() {
                let url = format!("{scheme}://user:hunter2@localhost/db");
                match open(&url, &OpenOptions::default()).await {
                    Err(Error::FeatureDisabled { feature, .. }) => {
                        assert_eq!(feature, backend.feature());
                    }
                    other => panic!("{url}: {other:?}"),
                }
            }
        }
    }

    #[tokio::test]
    async fn refusals_say_why_and_name_the_stores_that_keep_the_profile() {
        let options = OpenOptions::default().with_profile(Profile::Django, ExpiryPolicy::default());
        for (url, why) in [
            ("mongodb://127.0.0.1:1/x", "no MongoDB session engine"),
            ("memory", "this process's memory"),
        ] {
            let err = open(url, &options).await.unwrap_err().to_string();
            assert!(
                err.contains(why)
                    && err.contains("redis, memcached, file, postgres, mysql, sqlite"),
                "{url}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn passwords_never_reach_error_messages() {
        for url in [
            "nosuch://user:hunter2@localhost/db",
            "mongodb://user:hunter2@localhost/db",
        ] {
            let options =
                OpenOptions::default().with_profile(Profile::Django, ExpiryPolicy::default());
            let err = open(url, &options).await.unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
