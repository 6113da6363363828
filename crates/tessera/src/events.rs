//! Lifecycle events for audit logs: [`SessionEvent`] and the [`SessionEvents`] hook an
//! application registers with [`SessionLayer::with_events`](crate::SessionLayer::with_events).
//!
//! The hook is called on the request path, after the store has answered, so it must not
//! block: log, count, or hand the event to a channel. A `tokio::sync::mpsc::Sender` is a hook
//! as it is: it never waits, and an event that finds the channel full is dropped with a
//! warning rather than slowing a request.
//!
//! ```
//! use tessera::events::SessionEvent;
//!
//! # fn example(layer: tessera::SessionLayer) -> tessera::SessionLayer {
//! let (events, mut audit) = tokio::sync::mpsc::channel::<SessionEvent>(1024);
//! tokio::spawn(async move {
//!     while let Some(event) = audit.recv().await {
//!         tracing::info!(?event, "session event");
//!     }
//! });
//! layer.with_events(events)
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use crate::id::SessionHandle;

/// Something that happened to a session. Sessions are named by their [`SessionHandle`],
/// never by their id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// A new session was stored.
    Created {
        /// The new session.
        session: SessionHandle,
        /// Its user, if a handler named one.
        user: Option<String>,
    },
    /// A session moved to a new id ([`Session::cycle_id`](crate::Session::cycle_id), at login).
    Cycled {
        /// The session's old id.
        from: SessionHandle,
        /// Its new id.
        to: SessionHandle,
        /// Its user, if any.
        user: Option<String>,
    },
    /// A session was flushed ([`Session::flush`](crate::Session::flush): logout).
    Flushed {
        /// The session.
        session: SessionHandle,
        /// The user it belonged to, if any.
        user: Option<String>,
    },
    /// A session was revoked through the per-user index ([`crate::users::Users`]).
    Revoked {
        /// The session.
        session: SessionHandle,
        /// The user whose session it was.
        user: String,
    },
    /// A save met other app servers' writes and was retried on a fresh copy.
    Retried {
        /// The session.
        session: SessionHandle,
        /// Writes tried, the first included.
        attempts: u32,
        /// Whether one of them was stored in the end.
        saved: bool,
    },
}

/// A hook that receives [`SessionEvent`]s; it must not block (see the [module docs](self)).
pub trait SessionEvents: Send + Sync + 'static {
    /// Called once for each event.
    fn on_event(&self, event: SessionEvent);
}

impl<F: Fn(SessionEvent) + Send + Sync + 'static> SessionEvents for F {
    fn on_event(&self, event: SessionEvent) {
        self(event);
    }
}

impl SessionEvents for tokio::sync::mpsc::Sender<SessionEvent> {
    fn on_event(&self, event: SessionEvent) {
        if let Err(error) = self.try_send(event) {
            tracing::warn!(%error, "session event dropped: the events channel is full or closed");
        }
    }
}

impl SessionEvents for tokio::sync::mpsc::UnboundedSender<SessionEvent> {
    fn on_event(&self, event: SessionEvent) {
        if self.send(event).is_err() {
            tracing::warn!("session event dropped: the events channel is closed");
        }
    }
}

/// A registered hook, shared by the layer and [`crate::users::Users`].
#[derive(Clone)]
pub(crate) struct Hook(pub(crate) Arc<dyn SessionEvents>);

impl Hook {
    pub(crate) fn emit(hook: Option<&Hook>, event: impl FnOnce() -> SessionEvent) {
        if let Some(hook) = hook {
            hook.0.on_event(event());
        }
    }
}

impl fmt::Debug for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionEvents")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(n: u8) -> SessionEvent {
        let id = crate::SessionId::parse(&format!("id{n}")).unwrap();
        SessionEvent::Created {
            session: SessionHandle::of(&id),
            user: None,
        }
    }

    #[test]
    fn a_full_channel_drops_the_event_instead_of_waiting() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let hook = Hook(Arc::new(tx));
        // Called from plain code, as a request's commit would: neither call may block.
        Hook::emit(Some(&hook), || created(1));
        Hook::emit(Some(&hook), || created(2));
        assert_eq!(rx.try_recv().unwrap(), created(1));
        assert!(rx.try_recv().is_err(), "the second event was dropped");
        drop(rx);
        Hook::emit(Some(&hook), || created(3));
    }

    #[test]
    fn a_closure_is_a_hook() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let into = seen.clone();
        let hook = Hook(Arc::new(move |e: SessionEvent| {
            into.lock().unwrap().push(e);
        }));
        Hook::emit(Some(&hook), || created(1));
        Hook::emit(None, || unreachable!("no hook, no event built"));
        assert_eq!(*seen.lock().unwrap(), vec![created(1)]);
    }
}
