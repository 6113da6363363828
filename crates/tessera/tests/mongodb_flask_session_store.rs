//! The conformance suite against a MongoDB-wire server (`TESSERA_MONGODB_URL`, default
//! `mongodb://127.0.0.1:27018`) holding sessions as Flask-Session 0.8's documents (the
//! `flask-session` profile), and the shape of those documents.
#![cfg(all(feature = "mongodb", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use mongodb::bson::{doc, spec::BinarySubtype, Binary, Bson, DateTime, Document};
use support::mongo::{self, drop_collection, url};
use support::{unique_name, Teardown};
use tessera::clock::ManualClock;
use tessera::conformance::{server_or_skip, Harness};
use tessera::store::mongodb::MongoStore;
use tessera::store::{Error, Expected, SessionStore};
use tessera::{Expiry, Profile, Record, SessionId};
use time::{Duration, OffsetDateTime};

async fn open_store(collection: &str, clock: &ManualClock) -> Result<MongoStore, Error> {
    mongo::open(collection, Profile::FlaskSession, clock).await
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
    let writer = raw.clone();
    let harness = mongo::harness(store, peer, clock)
        // What Flask-Session writes: update_one({"id": …}, {"$set": {…}}, upsert=True).
        .with_foreign_writer(move |id, bytes, at| {
            let raw = writer.clone();
            async move {
                raw.update_one(
                    doc! { "id": format!("session:{}", id.expose()) },
                    doc! { "$set": { "val": binary(&bytes), "expiration": date(at) } },
                )
                .upsert(true)
                .await
                .unwrap();
            }
        });
    Some(harness.with_corrupter(move |id: SessionId| {
        let (raw, _cleanup) = (raw.clone(), cleanup.clone());
        async move {
            raw.insert_one(doc! {
                "id": format!("session:{}", id.expose()),
                "val": binary(b"\xc1 not msgpack"),
                "expiration": date(OffsetDateTime::now_utc() + Duration::days(1)),
            })
            .await
            .unwrap();
        }
    }))
}

tessera::conformance_suite!(harness);

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
