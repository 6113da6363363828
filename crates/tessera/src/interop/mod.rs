//! Sharing sessions with Python: Flask's and Django's formats, byte for byte.
//!
//! A [`Profile`] names a complete set of formats. `native` is tessera's own and the default;
//! `flask` reads and writes Flask's built-in cookie session; `flask-session` Flask-Session's
//! records on Redis, memcached, MongoDB and SQLAlchemy's `sessions` table (PostgreSQL,
//! MySQL/MariaDB, SQLite), and its `filesystem` backend's pickled files; `django` Django's
//! `signed_cookies` engine, its `db` engine's `django_session` table on PostgreSQL,
//! MySQL/MariaDB and SQLite ([`DjangoDbStore`](crate::store::sql::DjangoDbStore)), its `cache`
//! engine's pickled entries on Redis and memcached, `cached_db` (both, kept together:
//! [`DjangoCachedDbStore`](crate::store::django_cached_db::DjangoCachedDbStore)) and its `file`
//! engine ([`DjangoFileStore`](crate::store::django_file::DjangoFileStore)), with Django's
//! 32-character session keys ([`Profile::generate_id`]). Pickles are read and written by the
//! data-only [`pickle`] module. Select one with
//! [`SessionConfigBuilder::profile`](crate::config::SessionConfigBuilder::profile) or
//! `SESSION_PROFILE`; [`Backend::keeps`](crate::store::Backend::keeps) says which store keeps
//! which profile's records.

pub mod django;
pub mod flask;
pub mod flask_session;
pub mod itsdangerous;
pub mod meta;
pub mod pickle;
pub mod pyjson;

use std::fmt;
use std::str::FromStr;

use crate::id::{RandomError, SessionId};

/// A named set of session formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Profile {
    /// tessera's own formats.
    #[default]
    Native,
    /// Flask 3.1's built-in cookie session.
    Flask,
    /// Flask-Session 0.8's server-side sessions.
    FlaskSession,
    /// Django 5.2's session formats.
    Django,
}

impl Profile {
    /// The profile's name in `SESSION_PROFILE`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Flask => "flask",
            Self::FlaskSession => "flask-session",
            Self::Django => "django",
        }
    }
}

impl Profile {
    /// A new session id in this profile's form: Django's 32-character `[a-z0-9]` keys for
    /// [`Profile::Django`], tessera's 256-bit ids ([`SessionId::generate`]) for the others.
    ///
    /// ```
    /// use tessera::Profile;
    ///
    /// assert_eq!(Profile::Django.generate_id().unwrap().expose().len(), 32);
    /// assert_eq!(Profile::Native.generate_id().unwrap().expose().len(), 43);
    /// ```
    pub fn generate_id(self) -> Result<SessionId, RandomError> {
        match self {
            Self::Django => django::generate_session_key(),
            _ => SessionId::generate(),
        }
    }

    /// Whether this profile's server-side stores accept `id` as a key (Django's stores refuse
    /// keys Django would not make; other profiles take any id [`SessionId::parse`] accepts).
    pub fn accepts_id(self, id: &SessionId) -> bool {
        match self {
            Self::Django => django::is_valid_session_key(id.expose()),
            _ => true,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown profile name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown session profile {0:?}; known: native, flask, flask-session, django")]
pub struct UnknownProfile(String);

impl FromStr for Profile {
    type Err = UnknownProfile;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "native" => Ok(Self::Native),
            "flask" => Ok(Self::Flask),
            "flask-session" | "flask_session" => Ok(Self::FlaskSession),
            "django" => Ok(Self::Django),
            _ => Err(UnknownProfile(s.to_owned())),
        }
    }
}
