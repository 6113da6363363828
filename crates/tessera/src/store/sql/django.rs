//! [`DjangoDbStore`]: sessions in Django's own `django_session` table (the `db` and
//! `cached_db` engines' layout), on PostgreSQL, MySQL / MariaDB or SQLite.
//!
//! The table is Django's, made by `manage.py migrate` (the `sessions` app's `0001_initial`):
//!
//! | column | PostgreSQL | MySQL / MariaDB | SQLite | holds |
//! |---|---|---|---|---|
//! | `session_key` | `varchar(40)` primary key | `varchar(40)` primary key | `varchar(40)` primary key | the bare session key |
//! | `session_data` | `text` | `longtext` | `text` | `signing.dumps(dict, salt="django.contrib.sessions.SessionStore", compress=True)` |
//! | `expire_date` | `timestamp with time zone`, indexed | `datetime(6)` (UTC), indexed | `datetime` (text, UTC, `str(datetime)`), indexed | the deadline |
//!
//! tessera never alters that table. It does not create it either unless the URL says
//! `migrate=true`, and then only with the exact schema Django's migration makes (for a Rust
//! service that starts before any Django app has migrated); by default a missing table is an
//! error at startup that says to run `manage.py migrate sessions`.
//!
//! Django's rows carry no version, so a conditional write compares a hash of the stored
//! `session_data` inside one transaction that holds the row (`SELECT … FOR UPDATE` on
//! PostgreSQL and MySQL, `BEGIN IMMEDIATE` on SQLite); creating a session never overwrites a
//! live row. Expired rows are never loaded; [`clear_expired`](SessionStore::clear_expired)
//! deletes `expire_date < now` in batches, as `manage.py clearsessions` does.
//!
//! The index of sessions by user lives in tessera's own table `django_session_users` beside
//! Django's (see [the SQL stores](super#the-index-of-sessions-by-user)), made with
//! `migrate=true` or [`DjangoDbStore::create_table`]; without it (Django's default) the
//! operator creates it with the DDL shown there, or the store keeps no index.

use std::fmt;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{Dialect, SqlStore};
use crate::id::SessionId;
use crate::interop::Profile;
use crate::record::Record;
use crate::store::url::redact_url;
use crate::store::{Error, Expected, Loaded, OpenOptions, Saved, SessionStore, UserIndex};

/// The table Django's `sessions` app creates.
pub const DJANGO_TABLE: &str = "django_session";

/// Sessions in Django's `django_session` table, read and written exactly as Django 5.2's `db`
/// engine does, so a Rust service and a Django app share logins through one database: the
/// [`SqlStore`](super::SqlStore) of the URL's database with the `django` profile.
///
/// Open it with [`open`](crate::store::open) (or [`DjangoDbStore::open`]) and the `django`
/// profile: `SESSION_PROFILE=django SESSION_URL=postgres://…/app` (or `mysql://…/app`,
/// `sqlite:///path/db.sqlite3`). URL parameters: `table` (default `django_session`, Django's
/// `db_table`), `schema` (PostgreSQL), `migrate=true` (create the table with Django's schema
/// if missing; off by default, the table belongs to Django's migrations), `max_connections`.
/// The secret key ring must be Django's `SECRET_KEY` and `SECRET_KEY_FALLBACKS`.
///
/// Keys Django would not make (fewer than 8 or more than 40 characters, or any character
/// outside `[a-z0-9]`) are never looked up: such a session does not exist, and saving under
/// one is [`Error::RefusedId`].
///
/// ```no_run
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::crypto::{KeyRing, SecretKey};
/// use tessera::store::{open, OpenOptions};
/// use tessera::{ExpiryPolicy, Profile};
///
/// let keys = KeyRing::new(SecretKey::new("the Django project's SECRET_KEY, 32+ bytes").unwrap());
/// let options = OpenOptions::default()
///     .with_profile(Profile::Django, ExpiryPolicy::default())
///     .with_keys(keys);
/// let store = open("postgres://app@127.0.0.1/app", &options).await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Clone)]
pub struct DjangoDbStore {
    inner: Inner,
}

// One per store, made once: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Inner {
    #[cfg(feature = "postgres")]
    Postgres(super::PostgresStore),
    #[cfg(feature = "mysql")]
    MySql(super::MySqlStore),
    #[cfg(feature = "sqlite")]
    Sqlite(super::SqliteStore),
}

/// `$body` with `$s` bound to the store `$inner` holds, whichever database it is on.
macro_rules! each {
    ($inner:expr, $s:ident => $body:expr) => {
        match $inner {
            #[cfg(feature = "postgres")]
            Inner::Postgres($s) => $body,
            #[cfg(feature = "mysql")]
            Inner::MySql($s) => $body,
            #[cfg(feature = "sqlite")]
            Inner::Sqlite($s) => $body,
        }
    };
}

impl fmt::Debug for DjangoDbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DjangoDbStore")
            .field("store", self.store())
            .finish()
    }
}

/// The store on `D` at `url` with the `django` profile in `options`.
async fn build<D: Dialect>(url: &str, options: &OpenOptions) -> Result<SqlStore<D>, Error> {
    SqlStore::<D>::builder(url)?.options(options).build().await
}

impl DjangoDbStore {
    /// Connects to the database a `postgres://`, `postgresql://`, `mysql://`, `mariadb://` or
    /// `sqlite:` URL names and checks that the table exists (creating it only with
    /// `?migrate=true`). Needs `options.keys` (Django's `SECRET_KEY`, then its fallbacks).
    pub async fn open(url: &str, options: &OpenOptions) -> Result<Self, Error> {
        let options = options
            .clone()
            .with_profile(Profile::Django, options.policy);
        let inner = match url.split(':').next().unwrap_or_default() {
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => Inner::Postgres(build(url, &options).await?),
            #[cfg(feature = "mysql")]
            "mysql" | "mariadb" => Inner::MySql(build(url, &options).await?),
            #[cfg(feature = "sqlite")]
            "sqlite" => Inner::Sqlite(build(url, &options).await?),
            _ => {
                return Err(Error::BadUrl {
                    url: redact_url(url),
                    reason: "Django's db engine is kept on postgres://, mysql:// or sqlite: URLs (with the matching cargo feature)".to_owned(),
                })
            }
        };
        Ok(Self { inner })
    }

    /// The quoted table name.
    pub fn table(&self) -> &str {
        each!(&self.inner, s => s.table())
    }

    /// Creates the table and its indexes with the schema Django's `sessions` migration makes,
    /// if missing, and tessera's index table beside it; never alters an existing table.
    pub async fn create_table(&self) -> Result<(), Error> {
        each!(&self.inner, s => s.migrate().await)
    }

    /// [`clear_expired`](SessionStore::clear_expired), reporting the running total after each
    /// batch.
    pub async fn clear_expired_with_progress(
        &self,
        progress: impl FnMut(u64),
    ) -> Result<u64, Error> {
        each!(&self.inner, s => s.clear_expired_with_progress(progress).await)
    }

    fn store(&self) -> &(dyn SessionStore + 'static) {
        each!(&self.inner, s => s)
    }
}

#[async_trait]
impl SessionStore for DjangoDbStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        self.store().load(id).await
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error> {
        self.store().save(id, record, expected).await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        self.store().delete(id).await
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error> {
        self.store().touch(id, expires_at).await
    }

    async fn clear_expired(&self) -> Result<u64, Error> {
        self.store().clear_expired().await
    }

    async fn clear_expired_in_batches(
        &self,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, Error> {
        self.store().clear_expired_in_batches(progress).await
    }

    fn list(&self) -> crate::store::Listing<'_> {
        self.store().list()
    }

    fn profile(&self) -> Profile {
        Profile::Django
    }

    fn user_index(&self) -> Result<&dyn UserIndex, Error> {
        self.store().user_index()
    }
}
