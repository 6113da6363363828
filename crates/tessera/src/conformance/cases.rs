//! The store contract, case by case: each takes a fresh [`Harness`] and panics on a failure.

use std::time::Duration as StdDuration;

use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::Harness;
use crate::clock::Clock as _;
use crate::store::{Expected, Loaded, Saved, SharedStore};
use crate::{Data, Expiry, Profile, Record, SessionId, Version};

/// The harness's time, to the second (stores may keep whole seconds only).
pub(super) fn now(h: &Harness) -> OffsetDateTime {
    let now = match &h.clock {
        Some(clock) => clock.now(),
        None => OffsetDateTime::now_utc(),
    };
    now.replace_nanosecond(0).expect("0 is a valid nanosecond")
}

pub(super) fn advance(h: &Harness, by: Duration) {
    h.clock.as_ref().expect("a clock").advance(by);
}

pub(super) fn record(
    data: serde_json::Value,
    expiry: Expiry,
    expires_at: OffsetDateTime,
) -> Record {
    let data: Data = serde_json::from_value(data).expect("a JSON object");
    Record::new(data, expiry, expires_at)
}

/// A record with `{"a": 1}`, live for an hour.
pub(super) fn live(h: &Harness) -> Record {
    record(
        json!({"a": 1}),
        Expiry::Default,
        now(h) + Duration::hours(1),
    )
}

/// A new id in the form the store's profile makes (Django's stores take only Django's keys).
pub(super) fn id(h: &Harness) -> SessionId {
    h.store.profile().generate_id().unwrap()
}

pub(super) async fn written(
    store: &SharedStore,
    id: &SessionId,
    r: &Record,
    expected: Expected,
) -> Version {
    match store.save(id, r, expected).await.unwrap() {
        Saved::Written(v) => v,
        Saved::Conflict => panic!("unexpected conflict saving with {expected:?}"),
    }
}

/// What is saved loads back, through the store and through its peer.
pub async fn round_trip(h: Harness) {
    let id = id(&h);
    let r = record(
        json!({"user": "ada", "n": 42, "f": 1.5, "nested": {"list": [1, null, "x"]}, "unicode": "é✓"}),
        Expiry::Age(Duration::hours(1)),
        now(&h) + Duration::hours(1),
    );
    let v = written(&h.store, &id, &r, Expected::Absent).await;
    let loaded = h
        .store
        .load(&id)
        .await
        .unwrap()
        .expect("the record just saved");
    if h.store.profile() == Profile::Native {
        assert_eq!(
            loaded,
            Loaded {
                record: r.clone(),
                version: v
            }
        );
    } else {
        // Other frameworks' formats keep only what they have: Flask-Session a permanent flag,
        // not an age. The data, the deadline and the version still round-trip.
        assert_eq!(*loaded.record.data, *r.data);
        assert_eq!(loaded.record.expires_at, r.expires_at);
        assert_eq!(loaded.version, v);
    }
    let peer = h
        .peer
        .load(&id)
        .await
        .unwrap()
        .expect("the peer sees it too");
    assert_eq!(peer.record, loaded.record);
}

/// A save whose precondition no longer holds is a conflict: a second create, a stale version,
/// a versioned save of a deleted record.
pub async fn conditional_writes(h: Harness) {
    let id = id(&h);
    let r = live(&h);
    let v1 = written(&h.store, &id, &r, Expected::Absent).await;
    assert_eq!(
        h.store.save(&id, &r, Expected::Absent).await.unwrap(),
        Saved::Conflict
    );
    let r2 = record(
        json!({"a": 2}),
        Expiry::Default,
        now(&h) + Duration::hours(1),
    );
    let v2 = written(&h.peer, &id, &r2, Expected::Version(v1)).await;
    assert_ne!(v1, v2);
    assert_eq!(
        h.store.save(&id, &r, Expected::Version(v1)).await.unwrap(),
        Saved::Conflict,
        "a stale version must not overwrite"
    );
    assert_eq!(h.store.load(&id).await.unwrap().unwrap().record, r2);
    h.store.delete(&id).await.unwrap();
    assert_eq!(
        h.store.save(&id, &r2, Expected::Version(v2)).await.unwrap(),
        Saved::Conflict,
        "a deleted record must not be resurrected by a versioned save"
    );
    assert_eq!(h.store.load(&id).await.unwrap(), None);
}

/// A deleted record is gone, deleting it again is no error, and its id can be created anew.
pub async fn delete(h: Harness) {
    let id = id(&h);
    let r = live(&h);
    written(&h.store, &id, &r, Expected::Absent).await;
    h.store.delete(&id).await.unwrap();
    assert_eq!(h.store.load(&id).await.unwrap(), None);
    h.store.delete(&id).await.unwrap();
    written(&h.store, &id, &r, Expected::Absent).await;
}

/// `touch` moves the deadline, keeps the data and the version, and reports an absent record.
pub async fn touch(h: Harness) {
    let id = id(&h);
    let r = record(
        json!({"a": 1}),
        Expiry::Default,
        now(&h) + Duration::seconds(60),
    );
    let v = written(&h.store, &id, &r, Expected::Absent).await;
    assert!(h
        .store
        .touch(&id, now(&h) + Duration::hours(1))
        .await
        .unwrap());
    let loaded = h.store.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.version, v, "touch must not change the version");
    assert_eq!(loaded.record.data, r.data, "touch must not change the data");
    if h.clock.is_some() {
        advance(&h, Duration::seconds(120));
        assert!(
            h.store.load(&id).await.unwrap().is_some(),
            "touch moved the deadline"
        );
    }
    written(&h.store, &id, &r, Expected::Version(v)).await;
    assert!(!h
        .store
        .touch(&self::id(&h), now(&h) + Duration::hours(1))
        .await
        .unwrap());
}

/// A touched record loads with the deadline it was given.
pub async fn touch_reports_the_new_deadline(h: Harness) {
    let id = id(&h);
    let r = record(json!({}), Expiry::Default, now(&h) + Duration::minutes(5));
    written(&h.store, &id, &r, Expected::Absent).await;
    let later = now(&h) + Duration::hours(2);
    assert!(h.store.touch(&id, later).await.unwrap());
    let loaded = h.store.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.record.expires_at, later);
}

/// `exists` sees a live record, through the store and its peer.
pub async fn exists(h: Harness) {
    let id = id(&h);
    assert!(!h.store.exists(&id).await.unwrap());
    written(&h.store, &id, &live(&h), Expected::Absent).await;
    assert!(h.store.exists(&id).await.unwrap());
    assert!(h.peer.exists(&id).await.unwrap());
}

/// An expired record is never loaded, touched or found, and its id can be created anew; with
/// no clock, the server must expire it within 10 s of its deadline.
pub async fn expiry_is_honoured(h: Harness) {
    let id = id(&h);
    if h.clock.is_some() {
        let r = record(
            json!({"a": 1}),
            Expiry::Default,
            now(&h) + Duration::seconds(60),
        );
        written(&h.store, &id, &r, Expected::Absent).await;
        advance(&h, Duration::seconds(59));
        assert!(h.store.load(&id).await.unwrap().is_some());
        advance(&h, Duration::seconds(2));
        assert_eq!(
            h.store.load(&id).await.unwrap(),
            None,
            "expired records are never loaded"
        );
        assert!(!h.store.exists(&id).await.unwrap());
        assert!(!h
            .store
            .touch(&id, now(&h) + Duration::hours(1))
            .await
            .unwrap());
        written(&h.store, &id, &r.clone(), Expected::Absent).await;
    } else {
        // The server keeps its own time; watch it expire the record (bounded).
        let r = record(
            json!({"a": 1}),
            Expiry::Default,
            now(&h) + Duration::seconds(2),
        );
        written(&h.store, &id, &r, Expected::Absent).await;
        assert!(h.store.load(&id).await.unwrap().is_some());
        let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
        while h.store.load(&id).await.unwrap().is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "the server never expired the record"
            );
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
    }
}

/// Saving a record whose deadline has passed deletes it.
pub async fn expired_save_is_a_delete(h: Harness) {
    let id = id(&h);
    let v = written(&h.store, &id, &live(&h), Expected::Absent).await;
    let dead = record(
        json!({"a": 2}),
        Expiry::Default,
        now(&h) - Duration::seconds(1),
    );
    assert!(matches!(
        h.store
            .save(&id, &dead, Expected::Version(v))
            .await
            .unwrap(),
        Saved::Written(_)
    ));
    assert_eq!(h.store.load(&id).await.unwrap(), None);
}

/// `clear_expired` removes the expired records, counts them, and keeps the live ones; a store
/// whose server expires records returns 0.
pub async fn clear_expired(h: Harness) {
    if h.clock.is_none() {
        assert!(
            h.server_expires,
            "a store whose server does not expire records must take a clock"
        );
        assert_eq!(h.store.clear_expired().await.unwrap(), 0);
        return;
    }
    let short: Vec<SessionId> = (0..3).map(|_| id(&h)).collect();
    let long: Vec<SessionId> = (0..2).map(|_| id(&h)).collect();
    for id in &short {
        let r = record(
            json!({"a": 1}),
            Expiry::Default,
            now(&h) + Duration::seconds(10),
        );
        written(&h.store, id, &r, Expected::Absent).await;
    }
    for id in &long {
        written(&h.store, id, &live(&h), Expected::Absent).await;
    }
    advance(&h, Duration::seconds(100));
    let removed = h.store.clear_expired().await.unwrap();
    if h.server_expires {
        assert_eq!(removed, 0);
    } else {
        assert_eq!(removed, 3);
        assert_eq!(
            h.store.clear_expired().await.unwrap(),
            0,
            "nothing left to clear"
        );
    }
    for id in &long {
        assert!(
            h.store.load(id).await.unwrap().is_some(),
            "live records survive"
        );
    }
}

/// A record of about 100 KiB (a 64 KiB string and a 2,000-key map) round-trips.
pub async fn large_values(h: Harness) {
    let id = id(&h);
    let big: serde_json::Map<String, serde_json::Value> =
        (0..2000).map(|i| (format!("key-{i}"), json!(i))).collect();
    let r = record(
        json!({"blob": "x".repeat(64 * 1024), "map": big}),
        Expiry::Default,
        now(&h) + Duration::hours(1),
    );
    written(&h.store, &id, &r, Expected::Absent).await;
    assert_eq!(h.store.load(&id).await.unwrap().unwrap().record, r);
}

/// A new session created under the id of an expired one gets a version the expired one never
/// had, so a writer still holding the old version cannot overwrite it.
///
/// Needs a clock (a server that expires records itself leaves nothing to replace), and the
/// native profile: other frameworks' formats version records by a hash of their bytes, which
/// an identical record repeats.
pub async fn a_replaced_expired_session_keeps_counting_versions(h: Harness) {
    if h.clock.is_none() || h.store.profile() != Profile::Native {
        return;
    }
    let id = id(&h);
    let short = record(json!({}), Expiry::Default, now(&h) + Duration::seconds(10));
    let old = written(&h.store, &id, &short, Expected::Absent).await;
    advance(&h, Duration::minutes(1));
    let fresh = record(json!({}), Expiry::Default, now(&h) + Duration::hours(1));
    let Saved::Written(new) = h.store.save(&id, &fresh, Expected::Absent).await.unwrap() else {
        panic!("an expired row must not block a new session")
    };
    assert_ne!(
        old, new,
        "a writer holding the expired session's version must not match"
    );
    assert_eq!(
        h.store
            .save(&id, &fresh, Expected::Version(old))
            .await
            .unwrap(),
        Saved::Conflict
    );
    assert!(
        matches!(
            h.store.save(&id, &fresh, Expected::Version(new)).await,
            Ok(Saved::Written(_))
        ),
        "the version the replacing insert answered is the stored one"
    );
}
