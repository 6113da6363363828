//! The conformance suite against [`CachedStore`]: a memory cache in front of a file store.
#![cfg(all(feature = "memory", feature = "file", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use support::ScratchDir;
use tessera::clock::{ManualClock, SharedClock};
use tessera::conformance::Harness;
use tessera::store::cached::CachedStore;
use tessera::store::file::FileStore;
use tessera::store::memory::MemoryStore;
use tessera::store::{Expected, OpenOptions, SessionStore, SharedStore};

async fn harness() -> Option<Harness> {
    let dir = Arc::new(ScratchDir::new("cached-memory"));
    let clock = ManualClock::new(time::macros::datetime!(2030-01-01 0:00 UTC));
    let shared: SharedClock = Arc::new(clock.clone());
    let options = OpenOptions::default().with_clock(shared.clone());
    // One in-process cache, as every app server of one process shares; two database handles.
    let cache: SharedStore = Arc::new(MemoryStore::new(10_000).with_clock(shared.clone()));
    // No threshold: the listing cases write more sessions (600) than the default keeps (500).
    let unbounded = format!("{}?threshold=0", dir.url());
    let db = FileStore::open(&unbounded, &options).await.unwrap();
    let db_peer = FileStore::open(&unbounded, &options).await.unwrap();
    let store = CachedStore::new(cache.clone(), Arc::new(db.clone())).with_clock(shared.clone());
    let peer = CachedStore::new(cache, Arc::new(db_peer)).with_clock(shared);
    let corrupt = move |id: tessera::SessionId| {
        let path = db.path_of(&id);
        async move { std::fs::write(path, b"\xff\xfenot a session").unwrap() }
    };
    let cleanup = support::Cleanup::keeping(|_| {}, Some(Box::new(dir)));
    let harness = support::Tracked::harness(store, peer, &cleanup);
    Some(harness.with_clock(clock).with_corrupter(corrupt))
}

tessera::conformance_suite!(harness);

#[tokio::test]
async fn cache_hits_answer_with_the_database_version() {
    let dir = ScratchDir::new("cached-version");
    let cache = Arc::new(MemoryStore::new(100));
    let db = Arc::new(
        FileStore::open(&dir.url(), &OpenOptions::default())
            .await
            .unwrap(),
    );
    let store = CachedStore::new(cache.clone(), db.clone());
    let id = tessera::SessionId::generate().unwrap();
    let mut data = tessera::Data::new();
    data.insert("user".into(), "ada".into());
    let record = tessera::Record::new(
        data,
        tessera::Expiry::Default,
        time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap()
            + time::Duration::hours(1),
    );
    let tessera::store::Saved::Written(v1) =
        store.save(&id, &record, Expected::Absent).await.unwrap()
    else {
        panic!("conflict")
    };
    // Another app server writes the database directly: the cached copy is now stale.
    let _ = db.save(&id, &record, Expected::Version(v1)).await.unwrap();
    let hit = store.load(&id).await.unwrap().unwrap();
    assert_eq!(
        hit.version, v1,
        "the cached copy carries the database version it was made from"
    );
    assert_eq!(hit.record, record, "the envelope never leaks into the data");
    // Saving from the stale copy conflicts in the database and drops the copy …
    assert_eq!(
        store
            .save(&id, &record, Expected::Version(v1))
            .await
            .unwrap(),
        tessera::store::Saved::Conflict
    );
    assert!(
        cache.load(&id).await.unwrap().is_none(),
        "the stale copy was invalidated"
    );
    // … so the reload sees the database's version.
    assert_ne!(store.load(&id).await.unwrap().unwrap().version, v1);
}
