//! [`Error`]: what a store operation can fail with.

use crate::id::SessionId;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store could not be reached, or its server refused the operation.
    #[error("the session store is unavailable during {op}")]
    Unavailable {
        /// The operation (`load`, `save`, …).
        op: &'static str,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store did not answer in time.
    #[error("the session store did not answer {op} within {after:?}")]
    Timeout {
        /// The operation.
        op: &'static str,
        /// The timeout that passed.
        after: std::time::Duration,
    },
    /// The stored record is not a session this profile can read.
    #[error("the stored record for session {id} is corrupt")]
    Corrupt {
        /// The session (redacted in `Display`).
        id: SessionId,
        /// Why it could not be decoded.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The record is larger than the store accepts.
    #[error("the session record is {size} bytes, over the store's limit of {limit}")]
    TooLarge {
        /// The record's encoded size.
        size: usize,
        /// The store's limit.
        limit: usize,
    },
    /// The store URL is malformed or names an unknown scheme.
    #[error("cannot open session store {url:?}: {reason}")]
    BadUrl {
        /// The URL, with any password removed.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The URL names a store whose cargo feature is not enabled.
    #[error("the {scheme:?} session store needs tessera's cargo feature `{feature}`; enabled stores: {enabled}")]
    FeatureDisabled {
        /// The URL scheme.
        scheme: String,
        /// The feature to enable.
        feature: &'static str,
        /// The schemes this build supports.
        enabled: String,
    },
    /// The store's format cannot keep a session under this id (Django's stores take only
    /// keys Django would make).
    #[error("the session store refuses the id {id}: {reason}")]
    RefusedId {
        /// The session (redacted in `Display`).
        id: SessionId,
        /// Which ids the store takes.
        reason: &'static str,
    },
    /// The session id could not be generated.
    #[error(transparent)]
    Random(#[from] crate::id::RandomError),
    /// The store cannot do this optional operation (listing, on a store that cannot
    /// enumerate its records).
    #[error("{store} cannot {op}: {reason}")]
    Unsupported {
        /// The operation (`list`).
        op: &'static str,
        /// The store (`"the memcached store"`).
        store: &'static str,
        /// Why, and what to do instead.
        reason: &'static str,
    },
}

impl Error {
    /// An [`Error::Unavailable`] for `op` caused by `source`.
    pub fn unavailable(
        op: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Unavailable {
            op,
            source: source.into(),
        }
    }

    /// An [`Error::Corrupt`] for `id` caused by `source`.
    pub fn corrupt(
        id: &SessionId,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Corrupt {
            id: id.clone(),
            source: source.into(),
        }
    }
}

// What the stores that keep bytes a codec made (all but memory and tessera's own files) turn
// codec failures into.
#[cfg(any(
    feature = "file",
    feature = "redis",
    feature = "memcached",
    feature = "mongodb",
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite"
))]
impl Error {
    /// The [`Error::Corrupt`] for stored bytes a codec could not decode: its source is the
    /// format's own error, as the store's message already names the session.
    pub(crate) fn undecodable(id: &SessionId, error: crate::codec::CodecError) -> Self {
        Self::corrupt(id, error.into_source())
    }

    /// The error for a record a codec could not encode. No codec fails today; until the store
    /// error has a variant of its own for it, it is [`Error::Corrupt`] with the codec's error
    /// (which says the record cannot be written) as its source.
    pub(crate) fn unencodable(id: &SessionId, error: crate::codec::CodecError) -> Self {
        Self::corrupt(id, error)
    }
}
