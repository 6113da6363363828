use crate::store;

/// Loading or saving a session failed; the request is answered with `503`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The store failed or timed out.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Another request kept changing the session; the save gave up after this many tries.
    #[error("the session kept changing under concurrent requests; gave up after {0} attempts")]
    Contended(u32),
    /// Another request deleted the session (a logout) while this one was running; its changes
    /// were not saved, so the logout stands (Django's `SessionInterrupted`).
    #[error("the session was deleted by a concurrent request before this request could save it")]
    Interrupted,
}
