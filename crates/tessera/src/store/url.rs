//! Store URLs: which [`Backend`] each scheme names, the cargo feature it needs, and
//! [`redact_url`] for messages and logs. The backends use this module; [`super::open()`] uses
//! them and it.

use std::fmt;

/// A kind of server (or place) a store keeps its records in: one per cargo feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// This process's memory ([`MemoryStore`](super::memory::MemoryStore)).
    Memory,
    /// Redis or a Redis Cluster.
    Redis,
    /// memcached.
    Memcached,
    /// A directory of files.
    File,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
    /// An SQLite file.
    Sqlite,
    /// MongoDB (or a server speaking its wire protocol).
    MongoDb,
}

/// Every URL scheme of a server-side store and the backend it names.
const SCHEMES: &[(&str, Backend)] = &[
    ("memory", Backend::Memory),
    ("redis", Backend::Redis),
    ("rediss", Backend::Redis),
    ("redis+cluster", Backend::Redis),
    ("rediss+cluster", Backend::Redis),
    ("memcached", Backend::Memcached),
    ("file", Backend::File),
    ("postgres", Backend::Postgres),
    ("postgresql", Backend::Postgres),
    ("mysql", Backend::MySql),
    ("mariadb", Backend::MySql),
    ("sqlite", Backend::Sqlite),
    ("mongodb", Backend::MongoDb),
];

impl Backend {
    /// Every backend, in the order the docs list them.
    pub const ALL: [Self; 8] = [
        Self::Memory,
        Self::Redis,
        Self::Memcached,
        Self::File,
        Self::Postgres,
        Self::MySql,
        Self::Sqlite,
        Self::MongoDb,
    ];

    /// The backend a store URL names by its scheme, if any.
    ///
    /// ```
    /// use tessera::store::Backend;
    ///
    /// assert_eq!(Backend::of_url("mariadb://app@db/app"), Some(Backend::MySql));
    /// assert_eq!(Backend::of_url("cookie+encrypted"), None);
    /// ```
    pub fn of_url(url: &str) -> Option<Self> {
        let scheme = url.split(':').next().unwrap_or_default();
        SCHEMES.iter().find(|(s, _)| *s == scheme).map(|&(_, b)| b)
    }

    /// The cargo feature of tessera that builds this backend's store (also its name in
    /// messages).
    pub fn feature(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redis => "redis",
            Self::Memcached => "memcached",
            Self::File => "file",
            Self::Postgres => "postgres",
            Self::MySql => "mysql",
            Self::Sqlite => "sqlite",
            Self::MongoDb => "mongodb",
        }
    }

    /// Whether this build has the backend's feature.
    pub fn is_enabled(self) -> bool {
        match self {
            Self::Memory => cfg!(feature = "memory"),
            Self::Redis => cfg!(feature = "redis"),
            Self::Memcached => cfg!(feature = "memcached"),
            Self::File => cfg!(feature = "file"),
            Self::Postgres => cfg!(feature = "postgres"),
            Self::MySql => cfg!(feature = "mysql"),
            Self::Sqlite => cfg!(feature = "sqlite"),
            Self::MongoDb => cfg!(feature = "mongodb"),
        }
    }

    /// The URL schemes that name this backend.
    pub fn schemes(self) -> impl Iterator<Item = &'static str> {
        SCHEMES
            .iter()
            .filter(move |(_, b)| *b == self)
            .map(|&(s, _)| s)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.feature())
    }
}

/// The schemes this build can open, cookie sessions included.
pub(crate) fn enabled_schemes() -> String {
    let mut out: Vec<&str> = vec!["cookie", "cookie+signed", "cookie+encrypted"];
    out.extend(
        SCHEMES
            .iter()
            .filter(|(_, b)| b.is_enabled())
            .map(|&(s, _)| s),
    );
    out.join(", ")
}

/// A URL fit for an error message or a log: any password is replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Cannot fail: a URL with a password has a host, which is all it needs.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        // Not a single-host URL (a cluster's `host:port,host:port`): drop any credentials.
        Err(_) => match url.split_once("://") {
            Some((scheme, rest)) => {
                let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
                match rest[..authority_end].rfind('@') {
                    Some(at) => format!("{scheme}://***{}", &rest[at..]),
                    None => url.to_owned(),
                }
            }
            None => url.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_are_redacted_too() {
        assert_eq!(
            redact_url("redis+cluster://user:hunter2@a:1,b:2/0"),
            "redis+cluster://***@a:1,b:2/0"
        );
        assert_eq!(
            redact_url("redis+cluster://a:1,b:2"),
            "redis+cluster://a:1,b:2"
        );
        assert_eq!(
            redact_url("postgres://app:hunter2@db/app"),
            "postgres://app:***@db/app"
        );
    }

    #[test]
    fn every_scheme_names_one_backend_and_every_backend_has_a_scheme() {
        for (scheme, backend) in SCHEMES {
            assert_eq!(Backend::of_url(&format!("{scheme}://x")), Some(*backend));
        }
        for backend in Backend::ALL {
            assert!(backend.schemes().next().is_some(), "{backend}");
        }
        assert_eq!(Backend::of_url("postgresql://x"), Some(Backend::Postgres));
        assert_eq!(Backend::of_url("sqlite::memory:"), Some(Backend::Sqlite));
        assert_eq!(Backend::of_url("nosuch://x"), None);
    }
}
