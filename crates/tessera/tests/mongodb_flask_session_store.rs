//! The conformance suite against a MongoDB-wire server (`TESSERA_MONGODB_URL`, default
//! `mongodb://127.0.0.1:27018`) holding sessions as Flask-Session 0.8's documents (the
//! `flask-session` profile), and the shape of those documents.
#![cfg(feature = "mongodb")]
#![allow(clippy::unwrap_used)]

mod conformance;
mod support;

use std::sync::Arc;

use conformance::{server_or_skip, Harness};
use mongodb::bson::{doc, spec::BinarySubtype, Binary, Bson, DateTime, Document};
use support::{unique_name, Teardown};
use tessera::clock::ManualClock;
use tessera::store::mongodb::MongoStore;
use tessera::store::{Error, Expected, SessionStore};
use tessera::{Expiry, ExpiryPolicy, Profile, Record, SessionId};
use time::{Duration, OffsetDateTime};

fn url() -> String {
    std::env::var("TESSERA_MONGODB_URL").unwrap_or_else(|_| "mongodb://127.0.0.1:27018".to_owned())
}

async fn open_store(collection: &str, clock: &ManualClock) -> Result<MongoStore, Error> {
    MongoStore::builder(&url())?
        .database("tessera_test")
        .collection(collection)
        .profile(Profile::FlaskSession, ExpiryPolicy::default())
        .clock(Arc::new(clock.clone()))
        .build()
        .await
}

fn drop_collection(collection: &str) -> Teardown {
    let collection = collection.to_owned();
    Teardown::new(move || async move {
        let builder = MongoStore::builder(&url())
            .unwrap()
            .database("tessera_test");
        if let Ok(store) = builder.collection(collection).migrate(false).build().await {
            let _ = store.collection().drop().await;
        }
    })
}

fn binary(bytes: &[u8]) -> Binary {
    Binary {
        subtype: BinarySubtype::Generic,
        bytes: bytes.to_vec(),
    }
}

fn date(at: OffsetDateTime) -> DateTime {
    DateTime::from_millis(at.unix_timestamp() * 1000)
}

struct Fixture {
    store: MongoStore,
    clock: ManualClock,
    _cleanup: Teardown,
}

async fn fixture() -> Option<Fixture> {
    let clock = ManualClock::starting_now();
    let collection = unique_name("flask_sessions");
    let store = server_or_skip(
        &format!("mongodb at {}", url()),
        open_store(&collection, &clock).await,
    )?;
    Some(Fixture {
        store,
        clock,
        _cleanup: drop_collection(&collection),
    })
}

async fn harness() -> Option<Harness> {
    let clock = ManualClock::starting_now();
    let collection = unique_name("flask_sessions");
    let store = server_or_skip(
        &format!("mongodb at {}", url()),
        open_store(&collection, &clock).await,
    )?;
    let cleanup = drop_collection(&collection);
    let peer = open_store(&collection, &clock).await.unwrap();
    let raw = store.collection().clone();
    Some(Harness {
        store: Arc::new(store),
        peer: Arc::new(peer),
        clock: Some(clock),
        server_expires: false,
        corrupt: Some(Arc::new(move |id: SessionId| {
            let (raw, _cleanup) = (raw.clone(), cleanup.clone());
            Box::pin(async move {
                raw.insert_one(doc! {
                    "id": format!("session:{}", id.expose()),
                    "val": binary(b"\xc1 not msgpack"),
                    "expiration": date(OffsetDateTime::now_utc() + Duration::days(1)),
                })
                .await
                .unwrap();
            })
        })),
    })
}

conformance_suite!(harness);

fn record(clock: &ManualClock, user: &str) -> Record {
    let mut data = tessera::Data::new();
    data.insert("user".into(), user.into());
    Record::new(
        data,
        Expiry::Default,
        tessera::clock::Clock::now(clock) + Duration::hours(1),
    )
}

async fn documents(store: &MongoStore, id: &SessionId) -> Vec<Document> {
    let mut cursor = store
        .collection()
        .find(doc! { "id": format!("session:{}", id.expose()) })
        .await
        .unwrap();
    let mut out = Vec::new();
    while cursor.advance().await.unwrap() {
        out.push(cursor.deserialize_current().unwrap());
    }
    out
}

#[tokio::test]
async fn documents_are_flask_session_0_8_documents() {
    let Some(f) = fixture().await else { return };
    let id = SessionId::generate().unwrap();
    let record = record(&f.clock, "ada");
    let _ = f.store.save(&id, &record, Expected::Absent).await.unwrap();
    let docs = documents(&f.store, &id).await;
    assert_eq!(docs.len(), 1, "{docs:?}");
    let doc = &docs[0];
    assert!(matches!(doc.get("_id"), Some(Bson::ObjectId(_))), "{doc:?}");
    let mut fields: Vec<&str> = doc.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["_id", "expiration", "id", "tessera_rev", "val"]);
    let Some(Bson::Binary(val)) = doc.get("val") else {
        panic!("val is not binary: {doc:?}")
    };
    // msgspec's encoding of {"user": "ada", "_permanent": True}, in tessera's key order.
    let data = tessera::interop::flask_session::decode_record(&val.bytes).unwrap();
    assert_eq!(data.get("user"), Some(&serde_json::json!("ada")));
    assert_eq!(data.get("_permanent"), Some(&serde_json::json!(true)));
    assert_eq!(
        doc.get_datetime("expiration").unwrap().timestamp_millis(),
        record.expires_at.unix_timestamp() * 1000
    );
}

#[tokio::test]
async fn documents_python_wrote_are_read_and_expired_ones_ignored() {
    let Some(f) = fixture().await else { return };
    let now = tessera::clock::Clock::now(&f.clock);
    let id = SessionId::generate().unwrap();
    // What Flask-Session writes: update_one({"id": …}, {"$set": {…}}, upsert=True).
    let val = b"\x82\xaa_permanent\xc3\xa4user\xa3bob";
    f.store
        .collection()
        .insert_one(doc! {
            "id": format!("session:{}", id.expose()),
            "val": binary(val),
            "expiration": date(now + Duration::minutes(10)),
        })
        .await
        .unwrap();
    let loaded = f.store.load(&id).await.unwrap().unwrap();
    assert_eq!(
        loaded.record.data.get("user"),
        Some(&serde_json::json!("bob"))
    );
    assert!(loaded.record.expiry == Expiry::Default);
    assert_eq!(
        loaded.record.expires_at.unix_timestamp(),
        (now + Duration::minutes(10)).unix_timestamp()
    );
    f.clock.advance(Duration::minutes(11));
    assert!(
        f.store.load(&id).await.unwrap().is_none(),
        "expired, though still stored"
    );
}

#[tokio::test]
async fn a_python_write_between_load_and_save_is_a_conflict() {
    let Some(f) = fixture().await else { return };
    let id = SessionId::generate().unwrap();
    let _ = f
        .store
        .save(&id, &record(&f.clock, "ada"), Expected::Absent)
        .await
        .unwrap();
    let loaded = f.store.load(&id).await.unwrap().unwrap();
    f.store
        .collection()
        .update_one(
            doc! { "id": format!("session:{}", id.expose()) },
            doc! { "$set": { "val": binary(b"\x81\xa4user\xa5carol") } },
        )
        .await
        .unwrap();
    let saved = f
        .store
        .save(
            &id,
            &record(&f.clock, "dave"),
            Expected::Version(loaded.version),
        )
        .await
        .unwrap();
    assert_eq!(saved, tessera::store::Saved::Conflict);
    let now = f.store.load(&id).await.unwrap().unwrap();
    assert_eq!(
        now.record.data.get("user"),
        Some(&serde_json::json!("carol"))
    );
}

#[tokio::test]
async fn pickled_records_are_refused_never_unpickled() {
    let Some(f) = fixture().await else { return };
    let now = tessera::clock::Clock::now(&f.clock);
    let id = SessionId::generate().unwrap();
    // pickle.dumps({"user": "ada"}, protocol=4), as Flask-Session before 0.7 stored `val`.
    let pickled =
        b"\x80\x04\x95\x13\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x04user\x94\x8c\x03ada\x94s.";
    f.store
        .collection()
        .insert_one(doc! {
            "id": format!("session:{}", id.expose()),
            "val": binary(pickled),
            "expiration": date(now + Duration::minutes(10)),
        })
        .await
        .unwrap();
    let err = f.store.load(&id).await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    let why = std::error::Error::source(&err).unwrap().to_string();
    assert!(why.contains("tessera never unpickles"), "{why}");
}
