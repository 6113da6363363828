//! The support matrix: which [`Profile`]'s records each [`Backend`] keeps. It is written down
//! here once; [`super::open()`] refuses what it refuses, its messages list what it keeps, and
//! the README's table is checked against [`markdown`] by a test.

use super::url::Backend;
use crate::interop::Profile;

/// Whether a backend keeps a profile's records ([`Backend::keeps`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Support {
    /// Kept, in the layout named (empty for tessera's own).
    Kept(&'static str),
    /// Refused, for the reason given.
    Refused(&'static str),
}

impl Support {
    /// Whether the records are kept.
    pub fn is_kept(self) -> bool {
        matches!(self, Self::Kept(_))
    }
}

#[cfg(test)]
/// The profiles that have server-side records; `flask` is Flask's cookie session only.
const SERVER_SIDE: [Profile; 3] = [Profile::Native, Profile::FlaskSession, Profile::Django];

const NOT_SHARED: &str = "no Python app shares this process's memory";
const SQLALCHEMY: &str = "SQLAlchemy's `sessions`";
const DJANGO_DB: &str = "`db` / `cached_db`: `django_session`";

impl Backend {
    /// Whether stores on this backend keep `profile`'s records, and in what layout.
    ///
    /// ```
    /// use tessera::store::{Backend, Support};
    /// use tessera::Profile;
    ///
    /// assert!(Backend::MySql.keeps(Profile::Django).is_kept());
    /// assert!(matches!(Backend::Redis.keeps(Profile::Django), Support::Refused(why) if why.contains("pickle")));
    /// ```
    pub fn keeps(self, profile: Profile) -> Support {
        use Backend::{File, Memcached, Memory, MongoDb, MySql, Postgres, Redis, Sqlite};
        use Support::{Kept, Refused};
        match (profile, self) {
            (Profile::Native, _) => Kept(""),
            (Profile::FlaskSession | Profile::Django, Memory) => Refused(NOT_SHARED),
            (Profile::FlaskSession, Redis | Memcached | MongoDb) => Kept(""),
            (Profile::FlaskSession, Postgres | MySql | Sqlite) => Kept(SQLALCHEMY),
            (Profile::FlaskSession, File) => Kept("`filesystem`: cachelib's `FileSystemCache`, pickled"),
            (Profile::Django, Postgres | MySql | Sqlite) => Kept(DJANGO_DB),
            (Profile::Django, File) => Kept("the `file` engine"),
            (Profile::Django, Redis | Memcached) => Refused(
                "Django's cache engines store Python pickle, which tessera never reads",
            ),
            (Profile::Django, MongoDb) => Refused("Django has no MongoDB session engine"),
            (Profile::Flask, _) => Refused(
                "the flask profile is Flask's built-in cookie session (SESSION_URL=cookie); Flask-Session's stores are the flask-session profile",
            ),
        }
    }
}

/// The backends that keep `profile`'s records, for messages: `redis, memcached, …`.
pub(crate) fn keepers(profile: Profile) -> String {
    let names: Vec<&str> = Backend::ALL
        .into_iter()
        .filter(|b| b.keeps(profile).is_kept())
        .map(Backend::feature)
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
/// The matrix as the README's Markdown table: a row per backend, a column per profile with
/// server-side records.
pub(crate) fn markdown() -> String {
    let mut out = String::from("| store |");
    for profile in SERVER_SIDE {
        out.push_str(&format!(" `{profile}` |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(SERVER_SIDE.len()));
    out.push('\n');
    for backend in Backend::ALL {
        out.push_str(&format!("| {backend} |"));
        for profile in SERVER_SIDE {
            match backend.keeps(profile) {
                Support::Kept("") => out.push_str(" ✓ |"),
                Support::Kept(layout) => out.push_str(&format!(" ✓ ({layout}) |")),
                Support::Refused(why) => out.push_str(&format!(" — ({why}) |")),
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_shows_this_matrix() {
        let readme = include_str!("../../../../README.md");
        let table = markdown();
        assert!(
            readme.contains(&table),
            "README.md's store × profile table differs from the code's; it should read:\n{table}"
        );
    }

    #[test]
    fn every_backend_keeps_native_records_and_none_keeps_flask_ones() {
        for backend in Backend::ALL {
            assert_eq!(backend.keeps(Profile::Native), Support::Kept(""));
            assert!(!backend.keeps(Profile::Flask).is_kept());
        }
        assert_eq!(
            keepers(Profile::FlaskSession),
            "redis, memcached, file, postgres, mysql, sqlite, mongodb"
        );
        assert_eq!(keepers(Profile::Django), "file, postgres, mysql, sqlite");
        assert_eq!(keepers(Profile::Flask), "none");
    }
}
