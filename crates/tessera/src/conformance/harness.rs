//! What a store's test file tells the cases about the store.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::clock::ManualClock;
use crate::id::SessionId;
use crate::store::{Error, OpenOptions, SharedStore};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Writes an undecodable record under an id, the way the store's server would hold one.
pub type Corrupter = Arc<dyn Fn(SessionId) -> BoxFuture<()> + Send + Sync>;

/// Runs the store's migration (creating its table, index, …) once more.
pub type Migrator = Arc<dyn Fn() -> BoxFuture<Result<(), Error>> + Send + Sync>;

/// Writes bytes under an id with a deadline, as the framework whose format the store keeps
/// writes them: created or replaced, bypassing the store.
pub type ForeignWriter =
    Arc<dyn Fn(SessionId, Vec<u8>, OffsetDateTime) -> BoxFuture<()> + Send + Sync>;

/// One store under test, fresh for each case.
///
/// [`Harness::new`] takes the store and a second handle on the same sessions; the `with_…`
/// setters say what else the store offers. A case needing something the harness lacks does
/// nothing and says why in its docs.
///
/// ```
/// # #[cfg(feature = "memory")]
/// # fn example() {
/// use std::sync::Arc;
/// use tessera::clock::ManualClock;
/// use tessera::conformance::Harness;
/// use tessera::store::memory::MemoryStore;
///
/// let clock = ManualClock::starting_now();
/// let store = Arc::new(MemoryStore::new(1_000).with_clock(Arc::new(clock.clone())));
/// let harness = Harness::new(store.clone(), store).with_clock(clock);
/// assert!(harness.clock.is_some() && !harness.server_expires);
/// # }
/// ```
#[non_exhaustive]
pub struct Harness {
    /// The store.
    pub store: SharedStore,
    /// A second handle on the same sessions (another connection pool, standing in for a
    /// second app server); may be the same handle for in-process stores.
    pub peer: SharedStore,
    /// Set when the store judges expiry by this injected clock, which the cases move.
    pub clock: Option<ManualClock>,
    /// The store's server expires records itself (`clear_expired` returns 0).
    pub server_expires: bool,
    /// How to plant a corrupt record, for stores that decode bytes.
    pub corrupt: Option<Corrupter>,
    /// How to open the store by URL, for stores [`store::open`](crate::store::open) knows.
    pub url: Option<StoreUrl>,
    /// How to run the store's migration again, for stores that have one.
    pub migrate: Option<Migrator>,
    /// How to write a record as the other framework does, for stores keeping the
    /// `flask-session` profile's records, or pickled ones of the `django` profile.
    pub foreign: Option<ForeignWriter>,
    /// The foreign writer's framework pickles the session dict there (Flask-Session's
    /// `filesystem` backend, Django's cache engines): the cases hand it pickles, not msgpack.
    pub foreign_pickles: bool,
    /// The store keeps an index of sessions by user ([`SessionStore::user_index`]); when
    /// unset ([`without_user_index`](Self::without_user_index)) the index cases check the
    /// store's refusal instead.
    ///
    /// [`SessionStore::user_index`]: crate::store::SessionStore::user_index
    pub user_index: bool,
}

impl Harness {
    /// A harness over `store` and `peer`, a second handle on the same sessions (pass the
    /// store twice when there is only one), judging expiry by the system's time.
    pub fn new(store: SharedStore, peer: SharedStore) -> Self {
        Self {
            store,
            peer,
            clock: None,
            server_expires: false,
            corrupt: None,
            url: None,
            migrate: None,
            foreign: None,
            foreign_pickles: false,
            user_index: true,
        }
    }

    /// The store keeps no index of sessions by user: the index cases check that it refuses
    /// with [`Error::Unsupported`](crate::store::Error::Unsupported).
    #[must_use]
    pub fn without_user_index(mut self) -> Self {
        self.user_index = false;
        self
    }

    /// The store judges expiry by `clock` (one it was given), which the cases move instead of
    /// sleeping.
    #[must_use]
    pub fn with_clock(mut self, clock: ManualClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The store's server expires records by its own time (a TTL), and `clear_expired`
    /// returns 0.
    #[must_use]
    pub fn expired_by_the_server(mut self) -> Self {
        self.server_expires = true;
        self
    }

    /// `corrupt(id)` writes bytes the store cannot decode under `id`, the way its server would
    /// hold them.
    #[must_use]
    pub fn with_corrupter<F, Fut>(mut self, corrupt: F) -> Self
    where
        F: Fn(SessionId) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.corrupt = Some(Arc::new(move |id| Box::pin(corrupt(id))));
        self
    }

    /// The store opens by `url`, onto the same sessions.
    #[must_use]
    pub fn with_url(mut self, url: StoreUrl) -> Self {
        self.url = Some(url);
        self
    }

    /// `migrate()` runs the store's migration again (the store ran it when it was built).
    #[must_use]
    pub fn with_migration<F, Fut>(mut self, migrate: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.migrate = Some(Arc::new(move || Box::pin(migrate())));
        self
    }

    /// `write(id, bytes, expires_at)` stores `bytes` under `id` as Flask-Session does (insert or
    /// replace, with that deadline), without going through the store.
    #[must_use]
    pub fn with_foreign_writer<F, Fut>(mut self, write: F) -> Self
    where
        F: Fn(SessionId, Vec<u8>, OffsetDateTime) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.foreign = Some(Arc::new(move |id, bytes, at| {
            Box::pin(write(id, bytes, at))
        }));
        self
    }

    /// The foreign writer's framework keeps the session dict pickled there, as Flask-Session's
    /// `filesystem` backend and Django's cache engines do: the cases write pickles with it.
    #[must_use]
    pub fn with_foreign_pickles(mut self) -> Self {
        self.foreign_pickles = true;
        self
    }
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("store", &self.store)
            .field("peer", &self.peer)
            .field("clock", &self.clock)
            .field("server_expires", &self.server_expires)
            .field("corrupt", &self.corrupt.is_some())
            .field("url", &self.url)
            .field("migrate", &self.migrate.is_some())
            .field("foreign", &self.foreign.is_some())
            .field("foreign_pickles", &self.foreign_pickles)
            .finish()
    }
}

/// A URL [`store::open`](crate::store::open) opens the harness's sessions by, and what it must
/// show of it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreUrl {
    /// The URL, with the parameters that make it name the harness's sessions (a table, a
    /// collection, …).
    pub url: String,
    /// The options to open it with (a profile, keys, a clock).
    pub options: OpenOptions,
    /// What the opened store's `Debug` shows of the URL's parameters (a table's name).
    pub shown: Option<String>,
    /// URLs of the same scheme whose parameters must be refused as
    /// [`Error::BadUrl`].
    pub refused: Vec<String>,
}

impl StoreUrl {
    /// `url`, opened with default [`OpenOptions`].
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            options: OpenOptions::default(),
            shown: None,
            refused: Vec::new(),
        }
    }

    /// Opens it with `options`.
    #[must_use]
    pub fn with_options(mut self, options: OpenOptions) -> Self {
        self.options = options;
        self
    }

    /// The opened store's `Debug` shows `name`, proof that the URL's parameter was read.
    #[must_use]
    pub fn shown_as(mut self, name: impl Into<String>) -> Self {
        self.shown = Some(name.into());
        self
    }

    /// `url` must be refused as [`Error::BadUrl`].
    #[must_use]
    pub fn refusing(mut self, url: impl Into<String>) -> Self {
        self.refused.push(url.into());
        self
    }
}
