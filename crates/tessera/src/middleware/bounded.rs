//! Store calls under the configured timeout, with the timer armed only when needed.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;

use super::Shared;
use crate::store;

/// Runs a store operation under the configured timeout.
///
/// The timer is armed the first time the operation is pending, so a store that answers at once
/// (the memory store, a cache hit) costs no timer registration, and it is not armed at all
/// for a store that bounds its own calls within the same timeout
/// ([`SessionStore::bounded_by`](crate::store::SessionStore::bounded_by)). The operation is
/// polled once per wake-up either way.
pub(crate) async fn bounded<T>(
    shared: &Shared,
    op: &'static str,
    fut: impl Future<Output = Result<T, store::Error>>,
) -> Result<T, store::Error> {
    let after = shared.config.store_timeout;
    let timed = Bounded {
        fut,
        timer: None,
        after: (!shared.store_bounds_itself).then_some(after),
    };
    timed
        .await
        .unwrap_or(Err(store::Error::Timeout { op, after }))
}

pin_project! {
    /// `fut`, or `None` once `after` has passed since it was first pending.
    struct Bounded<F> {
        #[pin]
        fut: F,
        #[pin]
        timer: Option<Sleep>,
        after: Option<Duration>,
    }
}

impl<F: Future> Future for Bounded<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(output) = this.fut.poll(cx) {
            return Poll::Ready(Some(output));
        }
        let Some(after) = *this.after else {
            return Poll::Pending;
        };
        if this.timer.is_none() {
            this.timer.set(Some(tokio::time::sleep(after)));
        }
        match this.timer.as_pin_mut() {
            Some(timer) => timer.poll(cx).map(|()| None),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ready_at_once_pending_forever_and_late() {
        let after = Some(Duration::from_millis(50));
        let ready = Bounded {
            fut: std::future::ready(1),
            timer: None,
            after,
        };
        assert_eq!(ready.await, Some(1));
        let stuck = Bounded {
            fut: std::future::pending::<u8>(),
            timer: None,
            after,
        };
        assert_eq!(stuck.await, None);
        let slow = Bounded {
            fut: async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                2
            },
            timer: None,
            after,
        };
        assert_eq!(slow.await, Some(2));
        let unbounded = Bounded {
            fut: async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                3
            },
            timer: None,
            after: None,
        };
        assert_eq!(unbounded.await, Some(3));
    }
}
