//! What the MongoDB stores' test files share: the server's URL, stores on fresh collections,
//! and the harness with the store's migration.

use std::sync::Arc;

use tessera::clock::ManualClock;
use tessera::conformance::Harness;
use tessera::store::mongodb::MongoStore;
use tessera::store::Error;
use tessera::{ExpiryPolicy, Profile};

use super::Teardown;

/// `TESSERA_MONGODB_URL`, or the MongoDB-wire server `scripts/services/mongodb.sh` starts.
pub fn url() -> String {
    std::env::var("TESSERA_MONGODB_URL").unwrap_or_else(|_| "mongodb://127.0.0.1:27018".to_owned())
}

/// A store on `collection` of the `tessera_test` database keeping `profile`'s records, judging
/// expiry by `clock`.
pub async fn open(
    collection: &str,
    profile: Profile,
    clock: &ManualClock,
) -> Result<MongoStore, Error> {
    MongoStore::builder(&url())?
        .database("tessera_test")
        .collection(collection)
        .profile(profile, ExpiryPolicy::default())
        .clock(Arc::new(clock.clone()))
        .build()
        .await
}

/// Drops `collection` (and its index by user's) when the returned guard goes.
pub fn drop_collection(collection: &str) -> Teardown {
    let collection = collection.to_owned();
    Teardown::new(move || async move {
        let builder = MongoStore::builder(&url())
            .unwrap()
            .database("tessera_test");
        if let Ok(store) = builder.collection(collection).migrate(false).build().await {
            let _ = store.collection().drop().await;
            let _ = store.user_index_collection().drop().await;
        }
    })
}

/// The harness over `store` and `peer`, judging expiry by `clock`, with the store's migration.
pub fn harness(store: MongoStore, peer: MongoStore, clock: ManualClock) -> Harness {
    super::migrating_harness(store, peer, clock, |store: MongoStore| async move {
        store.migrate().await
    })
}
