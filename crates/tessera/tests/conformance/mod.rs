//! The conformance suite every store runs.
//!
//! A store's test file builds a [`Harness`] and calls [`conformance_suite!`], which expands to
//! one `#[tokio::test]` per case, so every store reports the same list of tests.

#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

mod app;
mod cases;

#[allow(unused_imports)]
pub use app::*;
#[allow(unused_imports)]
pub use cases::*;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tessera::clock::ManualClock;
use tessera::store::SharedStore;
use tessera::SessionId;

/// Writes an undecodable record under an id, the way the store's server would hold one.
pub type Corrupter =
    Arc<dyn Fn(SessionId) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// One store under test.
pub struct Harness {
    /// The store.
    pub store: SharedStore,
    /// A second handle on the same sessions (another connection pool, standing in for a
    /// second app server); may be the same handle for in-process stores.
    pub peer: SharedStore,
    /// Set when the store judges expiry by this injected clock.
    pub clock: Option<ManualClock>,
    /// The store's server expires records itself (`clear_expired` returns 0).
    pub server_expires: bool,
    /// How to plant a corrupt record, for stores that decode bytes.
    pub corrupt: Option<Corrupter>,
}

/// Unwraps a server connection, or skips the test loudly when the server is absent, unless
/// `TESSERA_REQUIRE_SERVICES=1` (set by `.ci/run`) makes that a failure.
pub fn server_or_skip<T, E: std::fmt::Display>(what: &str, result: Result<T, E>) -> Option<T> {
    match result {
        Ok(t) => Some(t),
        Err(error) => {
            if std::env::var("TESSERA_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("{what} is required (TESSERA_REQUIRE_SERVICES=1) but unavailable: {error}");
            }
            eprintln!("\n*** SKIPPED: {what} is unavailable ({error}); set TESSERA_REQUIRE_SERVICES=1 to fail instead ***\n");
            None
        }
    }
}

/// Expands to one test per conformance case; `$harness` is an `async fn() -> Option<Harness>`.
#[macro_export]
macro_rules! conformance_suite {
    ($harness:path) => {
        $crate::conformance_suite!(@cases $harness;
            round_trip, conditional_writes, delete, touch, exists, expiry_is_honoured,
            expired_save_is_a_delete, clear_expired, large_values, corrupt_record_is_a_fresh_session,
            lifecycle_cycle_id, lifecycle_flush, lifecycle_read_only_writes_nothing,
            concurrent_writers_lose_nothing, concurrent_updates_lose_nothing,
            concurrent_get_then_insert_is_kept_or_refused, keys_are_isolated);
    };
    (@cases $harness:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(harness) = $harness().await {
                    conformance::$case(harness).await;
                }
            }
        )*
    };
}
