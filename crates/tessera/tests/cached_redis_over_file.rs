//! The conformance suite against [`CachedStore`]: Redis (`TESSERA_REDIS_URL`) in front of a
//! file store. Each app server has its own Redis connection and file store handle.
#![cfg(all(feature = "redis", feature = "file", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{Cleanup, ScratchDir, Tracked};
use tessera::clock::{ManualClock, SharedClock};
use tessera::conformance::{server_or_skip, Harness};
use tessera::store::cached::CachedStore;
use tessera::store::file::FileStore;
use tessera::store::redis::RedisStore;
use tessera::store::OpenOptions;

fn url() -> String {
    std::env::var("TESSERA_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn harness() -> Option<Harness> {
    let url = url();
    let dir = Arc::new(ScratchDir::new("cached-redis"));
    // Redis keeps real time; the file store and the wrapper judge deadlines by this clock,
    // which starts now so Redis TTLs stay meaningful.
    let clock = ManualClock::starting_now();
    let shared: SharedClock = Arc::new(clock.clone());
    let options = OpenOptions::default()
        .with_clock(shared.clone())
        .with_key_prefix(format!("{}:", support::unique("tessera-test:")))
        .with_timeout(Duration::from_secs(5));
    let cache = server_or_skip(
        &format!("redis at {url}"),
        RedisStore::connect(&url, &options).await,
    )?;
    let cache_peer = RedisStore::connect(&url, &options).await.unwrap();
    // No threshold: the listing cases write more sessions (600) than the default keeps (500).
    let unbounded = format!("{}?threshold=0", dir.url());
    let db = FileStore::open(&unbounded, &options).await.unwrap();
    let db_peer = FileStore::open(&unbounded, &options).await.unwrap();
    let store = CachedStore::new(Arc::new(cache.clone()), Arc::new(db.clone()))
        .with_clock(shared.clone())
        .with_cache_timeout(Duration::from_secs(2));
    let peer = CachedStore::new(Arc::new(cache_peer), Arc::new(db_peer))
        .with_clock(shared)
        .with_cache_timeout(Duration::from_secs(2));
    let corrupt = move |id: tessera::SessionId| {
        let path = db.path_of(&id);
        async move { std::fs::write(path, b"\xff\xfenot a session").unwrap() }
    };
    let cleanup = Cleanup::keeping(
        move |ids| {
            let keys: Vec<String> = ids.iter().map(|id| cache.key(id)).collect();
            support::redis_remover(&url, &keys);
        },
        Some(Box::new(dir)),
    );
    let harness = Tracked::harness(store, peer, &cleanup);
    Some(harness.with_clock(clock).with_corrupter(corrupt))
}

tessera::conformance_suite!(harness);
