//! The conformance suite against a MongoDB-wire server (`TESSERA_MONGODB_URL`, default
//! `mongodb://127.0.0.1:27018`, which `scripts/services/mongodb.sh` starts).
#![cfg(all(feature = "mongodb", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration as StdDuration;

use mongodb::bson::{doc, DateTime};
use support::mongo::{self, drop_collection, url};
use support::unique_name;
use tessera::clock::ManualClock;
use tessera::conformance::{server_or_skip, Harness, StoreUrl};
use tessera::store::mongodb::MongoStore;
use tessera::store::{Error, Expected, Saved, SessionStore};
use tessera::{Expiry, Profile, Record, SessionId};
use time::Duration;

async fn open_store(collection: &str, clock: &ManualClock) -> Result<MongoStore, Error> {
    mongo::open(collection, Profile::Native, clock).await
}

async fn harness() -> Option<Harness> {
    // Near the real time: the server's TTL monitor deletes by its own clock.
    let clock = ManualClock::starting_now();
    let collection = unique_name("sessions");
    let store = server_or_skip(
        &format!("mongodb at {}", url()),
        open_store(&collection, &clock).await,
    )?;
    let cleanup = drop_collection(&collection);
    let peer = open_store(&collection, &clock).await.unwrap();
    let by_url = StoreUrl::new(format!("{}/tessera_test?collection={collection}", url()))
        .shown_as(collection);
    let raw = store.collection().clone();
    let harness = mongo::harness(store, peer, clock).with_url(by_url);
    Some(harness.with_corrupter(move |id: SessionId| {
        let (raw, _cleanup) = (raw.clone(), cleanup.clone());
        async move {
            let expires = DateTime::from_millis(
                (time::OffsetDateTime::now_utc() + Duration::days(1)).unix_timestamp() * 1000,
            );
            raw.insert_one(doc! {
                "_id": format!("session:{}", id.expose()),
                "data": "not a record",
                "expires_at": expires,
                "version": 1_i64,
            })
            .await
            .unwrap();
        }
    }))
}

tessera::conformance_suite!(harness);

fn live_record(clock: &ManualClock) -> Record {
    let now = tessera::clock::Clock::now(clock);
    Record::new(
        Default::default(),
        Expiry::Default,
        now + Duration::hours(1),
    )
}

#[tokio::test]
async fn the_ttl_index_is_created_idempotently() {
    let clock = ManualClock::starting_now();
    let collection = unique_name("ttl");
    let Some(store) = server_or_skip("mongodb", open_store(&collection, &clock).await) else {
        return;
    };
    let _cleanup = drop_collection(&collection);
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    // Look for the index by its keys and options: nx-27017 renames indexes.
    let mut indexes = store.collection().list_indexes().await.unwrap();
    let mut ttl = 0;
    while indexes.advance().await.unwrap() {
        let index = indexes.deserialize_current().unwrap();
        let expire = index.options.and_then(|o| o.expire_after);
        if index.keys == doc! { "expires_at": 1 } && expire == Some(StdDuration::ZERO) {
            ttl += 1;
        }
    }
    assert_eq!(ttl, 1, "one TTL index on expires_at");
}

#[tokio::test]
async fn the_deadline_stays_a_bson_date_through_every_write() {
    let clock = ManualClock::starting_now();
    let collection = unique_name("dates");
    let Some(store) = server_or_skip("mongodb", open_store(&collection, &clock).await) else {
        return;
    };
    let _cleanup = drop_collection(&collection);
    let id = SessionId::generate().unwrap();
    let key = format!("session:{}", id.expose());
    let Saved::Written(v) = store
        .save(&id, &live_record(&clock), Expected::Absent)
        .await
        .unwrap()
    else {
        panic!("a fresh id conflicted")
    };
    let _ = store
        .save(&id, &live_record(&clock), Expected::Version(v))
        .await
        .unwrap();
    assert!(store
        .touch(&id, tessera::clock::Clock::now(&clock) + Duration::hours(2))
        .await
        .unwrap());
    let doc = store
        .collection()
        .find_one(doc! { "_id": &key })
        .await
        .unwrap()
        .unwrap();
    assert!(doc.get_datetime("expires_at").is_ok(), "{doc:?}");
    assert_eq!(
        doc.get_i64("version")
            .ok()
            .or(doc.get_i32("version").ok().map(i64::from)),
        Some(2)
    );
}

#[tokio::test]
async fn data_is_the_records_json_text_and_a_binary_record_loads_too() {
    let clock = ManualClock::starting_now();
    let collection = unique_name("forms");
    let Some(store) = server_or_skip("mongodb", open_store(&collection, &clock).await) else {
        return;
    };
    let _cleanup = drop_collection(&collection);
    let mut record = live_record(&clock);
    std::sync::Arc::make_mut(&mut record.data).insert("user".into(), "ada".into());
    let id = SessionId::generate().unwrap();
    assert!(matches!(
        store.save(&id, &record, Expected::Absent).await.unwrap(),
        Saved::Written(_)
    ));
    let doc = store
        .collection()
        .find_one(doc! { "_id": format!("session:{}", id.expose()) })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        doc.get_str("data").unwrap().as_bytes(),
        &record.encode_json()[..],
        "{doc:?}"
    );
    // A document holding the binary record (`Record::encode`), as written by another tool.
    let other = SessionId::generate().unwrap();
    let binary = record.encode();
    assert_eq!(binary[0], tessera::record::BINARY_V1);
    store
        .collection()
        .insert_one(doc! {
            "_id": format!("session:{}", other.expose()),
            "data": mongodb::bson::Binary {
                subtype: mongodb::bson::spec::BinarySubtype::Generic,
                bytes: binary,
            },
            "expires_at": DateTime::from_millis(record.expires_at.unix_timestamp() * 1000),
            "version": 1_i64,
        })
        .await
        .unwrap();
    let loaded = store.load(&other).await.unwrap().unwrap();
    assert_eq!(loaded.record.data, record.data);
    assert_eq!(loaded.record.data.get("user"), Some(&"ada".into()));
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_within_the_timeout() {
    let started = std::time::Instant::now();
    let result = MongoStore::builder("mongodb://127.0.0.1:9/?directConnection=true")
        .unwrap()
        .timeout(StdDuration::from_millis(300))
        .build()
        .await;
    assert!(
        matches!(
            result,
            Err(Error::Unavailable { .. } | Error::Timeout { .. })
        ),
        "{result:?}"
    );
    assert!(started.elapsed() < StdDuration::from_secs(3));
}

/// Clearing in batches removes every expired document, 500 at a time, reporting each batch.
#[tokio::test]
async fn expired_sessions_are_cleared_in_batches() {
    let clock = ManualClock::starting_now();
    let collection = unique_name("batches");
    let Some(store) = server_or_skip("mongodb", open_store(&collection, &clock).await) else {
        return;
    };
    let _cleanup = drop_collection(&collection);
    // Due in an hour by the server's clock, so its TTL monitor leaves them alone; expired by
    // the store's once its clock moves on.
    let due = tessera::clock::Clock::now(&clock) + Duration::hours(1);
    let docs: Vec<_> = (0..1100)
        .map(|n| {
            doc! {
                "_id": format!("session:expired{n:04}"),
                "data": "{}",
                "expires_at": DateTime::from_millis(due.unix_timestamp() * 1000),
                "version": 1_i64,
            }
        })
        .collect();
    store.collection().insert_many(docs).await.unwrap();
    clock.advance(Duration::hours(2));
    let kept = SessionId::generate().unwrap();
    let Saved::Written(_) = store
        .save(&kept, &live_record(&clock), Expected::Absent)
        .await
        .unwrap()
    else {
        panic!("not written");
    };
    let mut totals = Vec::new();
    let removed = store
        .clear_expired_in_batches(&mut |n| totals.push(n))
        .await
        .unwrap();
    assert_eq!(removed, 1100);
    assert_eq!(totals, [500, 1000, 1100]);
    assert!(store.load(&kept).await.unwrap().is_some());
}

#[tokio::test]
async fn the_user_index_keeps_dated_entries_with_its_indexes() {
    let clock = ManualClock::starting_now();
    let collection = unique_name("users");
    let Some(store) = server_or_skip("mongodb", open_store(&collection, &clock).await) else {
        return;
    };
    let _cleanup = drop_collection(&collection);
    store.migrate().await.unwrap();
    let raw = store.user_index_collection();
    assert_eq!(raw.name(), format!("{collection}_users"));
    let (mut unique, mut by_user, mut ttl) = (0, 0, 0);
    let mut indexes = raw.list_indexes().await.unwrap();
    while indexes.advance().await.unwrap() {
        let index = indexes.deserialize_current().unwrap();
        let options = index.options.unwrap_or_default();
        if index.keys == doc! { "user": 1, "session": 1 } && options.unique == Some(true) {
            unique += 1;
        }
        if index.keys == doc! { "user": 1 } {
            by_user += 1;
        }
        if index.keys == doc! { "until": 1 } && options.expire_after == Some(StdDuration::ZERO) {
            ttl += 1;
        }
    }
    assert_eq!(
        (unique, by_user, ttl),
        (1, 1, 1),
        "the index's three indexes"
    );
    // A name an operator could mistake for a query stays a value.
    let user = "{\"$ne\": null}";
    let id = SessionId::generate().unwrap();
    let index = store.user_index().unwrap();
    let until = tessera::clock::Clock::now(&clock) + Duration::hours(1);
    index.enter(user, &id, until).await.unwrap();
    index
        .enter(user, &id, until - Duration::minutes(5))
        .await
        .unwrap();
    index
        .enter(user, &id, until + Duration::minutes(5))
        .await
        .unwrap();
    assert!(index.entries("ada").await.unwrap().is_empty());
    assert_eq!(index.entries(user).await.unwrap(), vec![id.clone()]);
    let found = raw.find_one(doc! { "user": user }).await.unwrap().unwrap();
    assert_eq!(
        found.get_str("session").unwrap(),
        format!("session:{}", id.expose())
    );
    // The latest until, kept as a date, to the millisecond rounded up.
    let kept = i128::from(found.get_datetime("until").unwrap().timestamp_millis());
    let latest = (until + Duration::minutes(5)).unix_timestamp_nanos();
    assert_eq!(kept, (latest + 999_999) / 1_000_000);
    assert_eq!(
        raw.count_documents(doc! {}).await.unwrap(),
        1,
        "one document per entry"
    );
}
