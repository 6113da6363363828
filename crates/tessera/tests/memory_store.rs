//! The conformance suite against [`MemoryStore`].
#![cfg(all(feature = "memory", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use tessera::clock::ManualClock;
use tessera::conformance::Harness;
use tessera::store::memory::MemoryStore;

async fn harness() -> Option<Harness> {
    let clock = ManualClock::new(time::macros::datetime!(2030-01-01 0:00 UTC));
    let store = Arc::new(MemoryStore::new(10_000).with_clock(Arc::new(clock.clone())));
    Some(Harness::new(store.clone(), store).with_clock(clock))
}

tessera::conformance_suite!(harness);

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
    assert!(store.len() <= 100, "{} sessions held", store.len());
}

fn record_until(expires: time::OffsetDateTime) -> tessera::Record {
    tessera::Record::new(Default::default(), tessera::Expiry::Default, expires)
}

async fn create(store: &MemoryStore, expires: time::OffsetDateTime) -> tessera::SessionId {
    use tessera::store::{Expected, Saved, SessionStore};
    let id = tessera::SessionId::generate().unwrap();
    let saved = store
        .save(&id, &record_until(expires), Expected::Absent)
        .await
        .unwrap();
    assert!(matches!(saved, Saved::Written(_)));
    id
}

async fn held(store: &MemoryStore, ids: &[tessera::SessionId]) -> usize {
    use tessera::store::SessionStore;
    let mut n = 0;
    for id in ids {
        n += usize::from(store.load(id).await.unwrap().is_some());
    }
    n
}

/// A full store evicts sessions not used lately before the ones just read (sampled LRU: a
/// recently read session goes only when every sample drawn is as recent).
#[tokio::test]
async fn a_full_store_evicts_the_least_recently_used_first() {
    let store = MemoryStore::new(1_000);
    let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let mut ids = Vec::new();
    for _ in 0..1_000 {
        ids.push(create(&store, expires).await);
    }
    let (read, unread) = ids.split_at(500);
    assert_eq!(
        held(&store, read).await,
        500,
        "nothing evicted below capacity"
    );
    for _ in 0..250 {
        create(&store, expires).await;
    }
    assert_eq!(store.len(), 1_000);
    let (kept_read, kept_unread) = (held(&store, read).await, held(&store, unread).await);
    // 250 evicted: with eight samples, a pick falls on a recent session about once in 256
    // while half are stale (once in 10 by the end); a store choosing at random would lose
    // about 125 of each.
    assert!(
        kept_read >= 475,
        "kept {kept_read} of 500 recently read sessions"
    );
    assert!(
        kept_unread <= 275,
        "kept {kept_unread} of 500 unread sessions"
    );
}

/// Expired sessions make room before live ones do.
#[tokio::test]
async fn a_full_store_evicts_expired_sessions_first() {
    let clock = ManualClock::new(time::macros::datetime!(2030-01-01 0:00 UTC));
    let store = MemoryStore::new(1_000).with_clock(Arc::new(clock.clone()));
    let start = time::macros::datetime!(2030-01-01 0:00 UTC);
    let mut live = Vec::new();
    for n in 0..1_000 {
        let minutes = if n % 2 == 0 { 1 } else { 60 };
        let id = create(&store, start + time::Duration::minutes(minutes)).await;
        if minutes == 60 {
            live.push(id);
        }
    }
    clock.advance(time::Duration::minutes(2));
    let mut new = Vec::new();
    for _ in 0..250 {
        new.push(create(&store, start + time::Duration::hours(1)).await);
    }
    // 250 places needed, 500 expired sessions to take them from.
    let kept = held(&store, &live).await;
    // Choosing at random would lose about 125 of them.
    assert!(kept >= 475, "kept {kept} of 500 live sessions");
    assert!(store.len() <= 1_000);
    let cleared = tessera::store::SessionStore::clear_expired(&store)
        .await
        .unwrap();
    assert!(cleared > 0, "expired sessions were left for clear_expired");
    let kept_new = held(&store, &new).await;
    assert_eq!(
        store.len() as usize,
        kept + kept_new,
        "only live sessions are left"
    );
}
