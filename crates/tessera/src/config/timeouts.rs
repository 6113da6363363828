//! Idle and absolute timeouts (`SESSION_IDLE_TIMEOUT`, `SESSION_ABSOLUTE_TIMEOUT`): the caps
//! they put on a session's deadline.

use time::{Duration, OffsetDateTime};

use crate::expiry::{Expiry, ExpiryPolicy};
use crate::record::Meta;

/// The two limits OWASP's session management cheat sheet asks for, on top of the session's own
/// expiry: idle, since the last save or touch; absolute, since the session began (its first
/// save or last [`cycle_id`](crate::Session::cycle_id)). `None`: no such limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest time between two saves or touches.
    pub idle: Option<Duration>,
    /// Longest time since the session began.
    pub absolute: Option<Duration>,
}

impl Timeouts {
    /// The deadline a session saved or touched at `now` gets: its expiry's, capped by both
    /// timeouts (the absolute one counted from `created`, or from `now` for a new session).
    ///
    /// ```
    /// use tessera::config::Timeouts;
    /// use tessera::{Expiry, ExpiryPolicy};
    /// use time::{macros::datetime, Duration};
    ///
    /// let policy = ExpiryPolicy::new(Duration::days(30), true);
    /// let timeouts = Timeouts { idle: Some(Duration::hours(1)), absolute: Some(Duration::hours(8)) };
    /// let now = datetime!(2030-01-01 12:00 UTC);
    /// // Idle: an hour from now.
    /// assert_eq!(timeouts.deadline(policy, Expiry::Default, None, now), now + Duration::hours(1));
    /// // Absolute: eight hours from when it began, 7.5 hours ago.
    /// let began = now - Duration::minutes(450);
    /// assert_eq!(timeouts.deadline(policy, Expiry::Default, Some(began), now), began + Duration::hours(8));
    /// ```
    pub fn deadline(
        &self,
        policy: ExpiryPolicy,
        expiry: Expiry,
        created: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> OffsetDateTime {
        let mut deadline = policy.deadline(expiry, now);
        if let Some(idle) = self.idle {
            deadline = deadline.min(now + idle);
        }
        if let Some(absolute) = self.absolute {
            deadline = deadline.min(created.unwrap_or(now) + absolute);
        }
        deadline
    }

    /// Whether a session with `meta` has outlived the absolute timeout at `now` (a record
    /// saved before the timeout was configured, or shortened, can still be stored).
    pub fn outlived(&self, meta: &Meta, now: OffsetDateTime) -> bool {
        match (self.absolute, meta.created) {
            (Some(absolute), Some(created)) => created + absolute <= now,
            _ => false,
        }
    }

    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.idle.is_some() || self.absolute.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

    #[test]
    fn no_limits_leave_the_policy_deadline() {
        let policy = ExpiryPolicy::new(Duration::days(1), true);
        assert_eq!(
            Timeouts::default().deadline(
                policy,
                Expiry::Default,
                Some(NOW - Duration::days(9)),
                NOW
            ),
            NOW + Duration::days(1)
        );
    }

    #[test]
    fn a_longer_timeout_changes_nothing_and_the_sooner_limit_wins() {
        let policy = ExpiryPolicy::new(Duration::hours(2), true);
        let t = Timeouts {
            idle: Some(Duration::hours(3)),
            absolute: Some(Duration::hours(10)),
        };
        assert_eq!(
            t.deadline(policy, Expiry::Default, Some(NOW), NOW),
            NOW + Duration::hours(2)
        );
        let began = NOW - Duration::hours(9);
        assert_eq!(
            t.deadline(policy, Expiry::Default, Some(began), NOW),
            NOW + Duration::hours(1)
        );
        assert!(!t.outlived(
            &Meta {
                created: Some(began),
                ..Meta::default()
            },
            NOW
        ));
        assert!(t.outlived(
            &Meta {
                created: Some(NOW - Duration::hours(10)),
                ..Meta::default()
            },
            NOW
        ));
        assert!(
            !t.outlived(&Meta::default(), NOW),
            "a session without a start is not judged"
        );
    }
}
