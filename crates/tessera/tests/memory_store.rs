//! The conformance suite against [`MemoryStore`].
#![cfg(feature = "memory")]
#![allow(clippy::unwrap_used)]

mod conformance;

use std::sync::Arc;

use conformance::Harness;
use tessera::clock::ManualClock;
use tessera::store::memory::MemoryStore;

async fn harness() -> Option<Harness> {
    let clock = ManualClock::new(time::macros::datetime!(2030-01-01 0:00 UTC));
    let store = Arc::new(MemoryStore::new(10_000).with_clock(Arc::new(clock.clone())));
    Some(Harness {
        peer: store.clone(),
        store,
        clock: Some(clock),
        server_expires: false,
        corrupt: None,
    })
}

conformance_suite!(harness);

#[tokio::test]
async fn capacity_is_bounded() {
    use tessera::store::{Expected, SessionStore};
    let store = MemoryStore::new(100);
    let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    for _ in 0..1000 {
        let record = tessera::Record::new(Default::default(), tessera::Expiry::Default, expires);
        let _ = store
            .save(
                &tessera::SessionId::generate().unwrap(),
                &record,
                Expected::Absent,
            )
            .await
            .unwrap();
    }
    store.clear_expired().await.unwrap(); // runs moka's pending evictions
    assert!(store.len() <= 100, "{} sessions held", store.len());
}
