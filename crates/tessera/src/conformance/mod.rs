//! The conformance suite every store runs (feature `conformance`), for testing a
//! [`SessionStore`](crate::store::SessionStore) of your own.
//!
//! The cases check the store's contract (conditional writes, expiry, `touch`, corrupt records)
//! and whole requests through [`SessionLayer`](crate::SessionLayer) over the store, with two
//! app servers writing one session at once. Each case is an `async fn` taking a fresh
//! [`Harness`], that says what the store offers, and panics on a failure.
//!
//! [`conformance_suite!`](crate::conformance_suite) expands to one `#[tokio::test]` per case,
//! named after it, so every store reports the same list of tests. The tests are your crate's:
//! they need tokio with the `macros` and `rt-multi-thread` features in your dev-dependencies.
//!
//! ```toml
//! [dev-dependencies]
//! tessera = { version = "0.1", features = ["conformance"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! Then in a test file, `tests/my_store.rs`, a function building the harness, called for each
//! case (here over [`MemoryStore`](crate::store::memory::MemoryStore); a store with a server
//! returns [`server_or_skip`]'s `None` when it is absent):
//!
//! ```
//! # #[cfg(feature = "memory")]
//! # mod example {
//! use std::sync::Arc;
//!
//! use tessera::clock::ManualClock;
//! use tessera::conformance::Harness;
//! use tessera::store::memory::MemoryStore;
//!
//! async fn harness() -> Option<Harness> {
//!     // The cases move this clock instead of sleeping.
//!     let clock = ManualClock::starting_now();
//!     let store = Arc::new(MemoryStore::new(10_000).with_clock(Arc::new(clock.clone())));
//!     Some(Harness::new(store.clone(), store).with_clock(clock))
//! }
//!
//! // One test per case; `(harness; except large_values)` or `(harness; round_trip, delete)`
//! // would choose.
//! tessera::conformance_suite!(harness);
//! # }
//! # fn main() {}
//! ```
//!
//! A case is a plain function too, for running one by hand:
//!
//! ```
//! # #[cfg(feature = "memory")]
//! # #[tokio::main]
//! # async fn main() {
//! # use std::sync::Arc;
//! # let store = Arc::new(tessera::store::memory::MemoryStore::new(100));
//! use tessera::conformance::{conditional_writes, Harness};
//!
//! conditional_writes(Harness::new(store.clone(), store)).await;
//! # }
//! # #[cfg(not(feature = "memory"))]
//! # fn main() {}
//! ```
//!
//! Cases that need what only some stores have (a URL, a migration, a way to plant a corrupt
//! record, …) do nothing when the harness lacks it; their docs say which.

// A case fails by panicking: `unwrap` shows the store's error, and the line names the step.
#![allow(clippy::unwrap_used)]

mod app;
mod cases;
mod harness;
mod lifecycle;
mod listing;
mod optional;
mod sessions_per_user;
mod user_index;

pub use cases::{
    a_replaced_expired_session_keeps_counting_versions, clear_expired, conditional_writes, delete,
    exists, expired_save_is_a_delete, expiry_is_honoured, large_values, round_trip, touch,
    touch_reports_the_new_deadline,
};
pub use harness::{Corrupter, ForeignWriter, Harness, Migrator, StoreUrl};
pub use lifecycle::{
    concurrent_get_then_insert_is_kept_or_refused, concurrent_updates_lose_nothing,
    concurrent_writers_lose_nothing, corrupt_record_is_a_fresh_session, keys_are_isolated,
    lifecycle_cycle_id, lifecycle_flush, lifecycle_read_only_writes_nothing,
};
pub use listing::{
    clear_expired_in_batches_reports_progress, listing_pages_through_many_records,
    listing_shows_each_record_its_size_and_deadline, listing_shows_expired_records_until_cleared,
};
pub use optional::{
    a_python_write_between_load_and_save_is_a_conflict, migrate_twice_in_a_row,
    opens_by_url_with_its_parameters, pickled_records_are_refused_never_unpickled,
    records_python_wrote_are_read_and_expired_ones_ignored,
};
pub use sessions_per_user::{
    per_user_index_leaks_nothing, per_user_revoke_others_and_all,
    per_user_sessions_are_listed_and_one_revoked, per_user_two_servers_sign_in_at_once,
};
pub use user_index::{
    user_index_entries_last_until_their_latest_deadline, user_index_is_pruned_by_clear_expired,
    user_index_keeps_entries_by_user, user_index_two_servers_enter_at_once,
};

/// The environment variable that turns [`server_or_skip`]'s skips into failures.
pub const REQUIRE_SERVICES: &str = "TESSERA_REQUIRE_SERVICES";

/// Unwraps a connection to a test's server, or skips the test loudly when the server is
/// absent: `None`, and a message on stderr. With `TESSERA_REQUIRE_SERVICES=1` (as in CI) an
/// absent server is a failure instead.
///
/// `what` names the server in the message (`"redis at redis://127.0.0.1:6379"`).
///
/// ```
/// use tessera::conformance::server_or_skip;
///
/// let up: Result<u32, std::io::Error> = Ok(7);
/// assert_eq!(server_or_skip("a server", up), Some(7));
/// # if std::env::var("TESSERA_REQUIRE_SERVICES").as_deref() != Ok("1") {
/// let down: Result<u32, &str> = Err("connection refused");
/// assert_eq!(server_or_skip("another server", down), None);
/// # }
/// ```
pub fn server_or_skip<T, E: std::fmt::Display>(what: &str, result: Result<T, E>) -> Option<T> {
    match result {
        Ok(t) => Some(t),
        Err(error) => {
            if std::env::var(REQUIRE_SERVICES).as_deref() == Ok("1") {
                panic!("{what} is required ({REQUIRE_SERVICES}=1) but unavailable: {error}");
            }
            eprintln!("\n*** SKIPPED: {what} is unavailable ({error}); set {REQUIRE_SERVICES}=1 to fail instead ***\n");
            None
        }
    }
}

/// Expands to one `#[tokio::test]` per conformance case, named after the case, each running
/// it on a fresh harness from `$harness`, an `async fn() -> Option<Harness>` (`None` skips).
///
/// - `conformance_suite!(harness)` runs every case;
/// - `conformance_suite!(harness; except large_values, …)` every case but those, for a store
///   that cannot meet them (say why beside it);
/// - `conformance_suite!(harness; round_trip, delete, …)` only those.
///
/// Call it in a module of its own when a case's name would clash with one of yours, or to run
/// the suite twice in one file. The tests need tokio's `macros` and `rt-multi-thread` features
/// (see the [module docs](crate::conformance)).
///
/// ```
/// # #[cfg(feature = "memory")]
/// # mod example {
/// # use std::sync::Arc;
/// # use tessera::conformance::Harness;
/// # async fn harness() -> Option<Harness> {
/// #     let store = Arc::new(tessera::store::memory::MemoryStore::new(100));
/// #     Some(Harness::new(store.clone(), store))
/// # }
/// mod everything {
///     tessera::conformance_suite!(super::harness);
/// }
///
/// mod small_values {
///     // Say here why the store cannot hold them.
///     tessera::conformance_suite!(super::harness; except large_values);
/// }
///
/// mod the_basics {
///     tessera::conformance_suite!(super::harness; round_trip, conditional_writes, delete);
/// }
/// # }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_suite {
    (@except ($d:tt) $harness:path; $($skip:ident),*) => {
        // Expands to nothing for a skipped case, to its test for any other.
        macro_rules! __tessera_conformance_case {
            $( ($skip) => {}; )*
            ($d case:ident) => { $crate::conformance_suite!($harness; $d case); };
        }
        __tessera_conformance_case!(round_trip);
        __tessera_conformance_case!(conditional_writes);
        __tessera_conformance_case!(delete);
        __tessera_conformance_case!(touch);
        __tessera_conformance_case!(touch_reports_the_new_deadline);
        __tessera_conformance_case!(exists);
        __tessera_conformance_case!(expiry_is_honoured);
        __tessera_conformance_case!(expired_save_is_a_delete);
        __tessera_conformance_case!(clear_expired);
        __tessera_conformance_case!(large_values);
        __tessera_conformance_case!(a_replaced_expired_session_keeps_counting_versions);
        __tessera_conformance_case!(corrupt_record_is_a_fresh_session);
        __tessera_conformance_case!(lifecycle_cycle_id);
        __tessera_conformance_case!(lifecycle_flush);
        __tessera_conformance_case!(lifecycle_read_only_writes_nothing);
        __tessera_conformance_case!(concurrent_writers_lose_nothing);
        __tessera_conformance_case!(concurrent_updates_lose_nothing);
        __tessera_conformance_case!(concurrent_get_then_insert_is_kept_or_refused);
        __tessera_conformance_case!(keys_are_isolated);
        __tessera_conformance_case!(opens_by_url_with_its_parameters);
        __tessera_conformance_case!(migrate_twice_in_a_row);
        __tessera_conformance_case!(records_python_wrote_are_read_and_expired_ones_ignored);
        __tessera_conformance_case!(a_python_write_between_load_and_save_is_a_conflict);
        __tessera_conformance_case!(pickled_records_are_refused_never_unpickled);
        __tessera_conformance_case!(listing_shows_each_record_its_size_and_deadline);
        __tessera_conformance_case!(listing_pages_through_many_records);
        __tessera_conformance_case!(listing_shows_expired_records_until_cleared);
        __tessera_conformance_case!(clear_expired_in_batches_reports_progress);
        __tessera_conformance_case!(user_index_keeps_entries_by_user);
        __tessera_conformance_case!(user_index_entries_last_until_their_latest_deadline);
        __tessera_conformance_case!(user_index_is_pruned_by_clear_expired);
        __tessera_conformance_case!(user_index_two_servers_enter_at_once);
        __tessera_conformance_case!(per_user_sessions_are_listed_and_one_revoked);
        __tessera_conformance_case!(per_user_revoke_others_and_all);
        __tessera_conformance_case!(per_user_index_leaks_nothing);
        __tessera_conformance_case!(per_user_two_servers_sign_in_at_once);
    };
    ($harness:path) => {
        $crate::conformance_suite!($harness; except);
    };
    ($harness:path; except $($skip:ident),* $(,)?) => {
        // `$` handed to the arm below, which writes a macro of its own.
        $crate::conformance_suite!(@except ($) $harness; $($skip),*);
    };
    ($harness:path; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(harness) = $harness().await {
                    $crate::conformance::$case(harness).await;
                }
            }
        )+
    };
}
