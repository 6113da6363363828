//! The cases. Each takes a fresh [`Harness`] and panics on a failure.

use std::time::Duration as StdDuration;

use http::StatusCode;
use serde_json::json;
use tessera::crypto::{KeyRing, Purpose, SecretKey, Signer};
use tessera::store::{Error, Expected, Loaded, Saved, SharedStore};
use tessera::{Data, Expiry, Record, SessionId, Version};
use time::{Duration, OffsetDateTime};

use super::{app, send, shared_clock, Harness, SECRET};

fn now(h: &Harness) -> OffsetDateTime {
    let now = match &h.clock {
        Some(clock) => tessera::clock::Clock::now(clock),
        None => OffsetDateTime::now_utc(),
    };
    // Stores may keep whole seconds only.
    now.replace_nanosecond(0).unwrap()
}

fn advance(h: &Harness, by: Duration) {
    h.clock.as_ref().expect("a clock").advance(by);
}

fn record(data: serde_json::Value, expiry: Expiry, expires_at: OffsetDateTime) -> Record {
    let data: Data = serde_json::from_value(data).unwrap();
    Record::new(data, expiry, expires_at)
}

/// A new id in the form the store's profile makes (Django's stores take only Django's keys).
fn id(h: &Harness) -> SessionId {
    h.store.profile().generate_id().unwrap()
}

async fn written(store: &SharedStore, id: &SessionId, r: &Record, expected: Expected) -> Version {
    match store.save(id, r, expected).await.unwrap() {
        Saved::Written(v) => v,
        Saved::Conflict => panic!("unexpected conflict saving with {expected:?}"),
    }
}

fn id_of(cookie: &str) -> SessionId {
    let value = cookie.split_once('=').unwrap().1;
    // Signed ids are `id.signature`; Django's cookie carries the bare key.
    SessionId::parse(value.rsplit_once('.').map_or(value, |(id, _)| id)).unwrap()
}

/// The cookie naming `id`, as the layer over `h`'s store would set it.
fn signed_cookie_for(h: &Harness, id: &SessionId) -> String {
    if h.store.profile() == tessera::Profile::Django {
        format!("session={}", id.expose())
    } else {
        signed_cookie(id)
    }
}

fn signed_cookie(id: &SessionId) -> String {
    let ring = KeyRing::new(SecretKey::new(SECRET).unwrap());
    format!(
        "session={}",
        Signer::new(&ring, Purpose::IdCookie).sign("session", id.expose())
    )
}

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
    if h.store.profile() == tessera::Profile::Native {
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

pub async fn conditional_writes(h: Harness) {
    let id = id(&h);
    let r = record(
        json!({"a": 1}),
        Expiry::Default,
        now(&h) + Duration::hours(1),
    );
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

pub async fn delete(h: Harness) {
    let id = id(&h);
    let r = record(
        json!({"a": 1}),
        Expiry::Default,
        now(&h) + Duration::hours(1),
    );
    written(&h.store, &id, &r, Expected::Absent).await;
    h.store.delete(&id).await.unwrap();
    assert_eq!(h.store.load(&id).await.unwrap(), None);
    h.store.delete(&id).await.unwrap();
    written(&h.store, &id, &r, Expected::Absent).await;
}

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

pub async fn exists(h: Harness) {
    let id = id(&h);
    assert!(!h.store.exists(&id).await.unwrap());
    let r = record(
        json!({"a": 1}),
        Expiry::Default,
        now(&h) + Duration::hours(1),
    );
    written(&h.store, &id, &r, Expected::Absent).await;
    assert!(h.store.exists(&id).await.unwrap());
    assert!(h.peer.exists(&id).await.unwrap());
}

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

pub async fn expired_save_is_a_delete(h: Harness) {
    let id = id(&h);
    let live = record(
        json!({"a": 1}),
        Expiry::Default,
        now(&h) + Duration::hours(1),
    );
    let v = written(&h.store, &id, &live, Expected::Absent).await;
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
        let r = record(
            json!({"a": 1}),
            Expiry::Default,
            now(&h) + Duration::hours(1),
        );
        written(&h.store, id, &r, Expected::Absent).await;
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

pub async fn corrupt_record_is_a_fresh_session(h: Harness) {
    let app = app(h.store.clone(), shared_clock(&h.clock));
    // A cookie naming no session, and a tampered one: fresh sessions, never the client's id.
    let unknown = id(&h);
    let reply = send(&app, "/put/a/1", Some(&signed_cookie_for(&h, &unknown))).await;
    assert_eq!(reply.status, 200);
    assert_ne!(
        id_of(&reply.cookie().unwrap()),
        unknown,
        "never adopt a client-chosen id"
    );
    let reply = send(
        &app,
        "/all",
        Some(&format!("{}x", signed_cookie_for(&h, &unknown))),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.data().is_empty());
    let Some(corrupt) = &h.corrupt else {
        return;
    };
    let id = id(&h);
    corrupt(id.clone()).await;
    assert!(matches!(
        h.store.load(&id).await,
        Err(Error::Corrupt { .. })
    ));
    let reply = send(&app, "/all", Some(&signed_cookie_for(&h, &id))).await;
    assert_eq!(
        reply.status, 200,
        "a corrupt record is a fresh session, not an error"
    );
    assert!(reply.data().is_empty());
    let reply = send(&app, "/put/a/1", Some(&signed_cookie_for(&h, &id))).await;
    assert_eq!(reply.status, 200);
    assert_ne!(id_of(&reply.cookie().unwrap()), id);
}

pub async fn lifecycle_cycle_id(h: Harness) {
    let app = app(h.store.clone(), shared_clock(&h.clock));
    let first = send(&app, "/put/a/1", None).await.cookie().unwrap();
    let login = send(&app, "/login/ada", Some(&first)).await;
    let second = login.cookie().expect("login sets a new cookie");
    assert_ne!(id_of(&first), id_of(&second));
    assert_eq!(
        h.store.load(&id_of(&first)).await.unwrap(),
        None,
        "the old record is gone"
    );
    let data = send(&app, "/all", Some(&second)).await.data();
    assert_eq!(data.get("a"), Some(&json!("1")));
    assert_eq!(data.get("user"), Some(&json!("ada")));
    assert!(send(&app, "/all", Some(&first)).await.data().is_empty());
}

pub async fn lifecycle_flush(h: Harness) {
    let app = app(h.store.clone(), shared_clock(&h.clock));
    let cookie = send(&app, "/put/a/1", None).await.cookie().unwrap();
    assert!(h.store.exists(&id_of(&cookie)).await.unwrap());
    let reply = send(&app, "/flush", Some(&cookie)).await;
    assert!(reply.removes_cookie(), "{:?}", reply.set_cookie);
    assert_eq!(h.store.load(&id_of(&cookie)).await.unwrap(), None);
    assert!(send(&app, "/all", Some(&cookie)).await.data().is_empty());
}

pub async fn lifecycle_read_only_writes_nothing(h: Harness) {
    let app = app(h.store.clone(), shared_clock(&h.clock));
    let cookie = send(&app, "/put/a/1", None).await.cookie().unwrap();
    let before = h
        .store
        .load(&id_of(&cookie))
        .await
        .unwrap()
        .unwrap()
        .version;
    let reply = send(&app, "/all", Some(&cookie)).await;
    assert!(reply.set_cookie.is_empty(), "a read sends no cookie");
    assert_eq!(reply.vary, ["Cookie"]);
    let after = h
        .store
        .load(&id_of(&cookie))
        .await
        .unwrap()
        .unwrap()
        .version;
    assert_eq!(before, after, "a read writes nothing");
    let untouched = send(&app, "/untouched", Some(&cookie)).await;
    assert!(untouched.set_cookie.is_empty() && untouched.vary.is_empty());
    // An empty new session is never stored and gets no cookie.
    let empty = send(&app, "/all", None).await;
    assert!(empty.set_cookie.is_empty());
}

pub async fn concurrent_writers_lose_nothing(h: Harness) {
    const WRITERS: usize = 40;
    let apps = [
        app(h.store.clone(), shared_clock(&h.clock)),
        app(h.peer.clone(), shared_clock(&h.clock)),
    ];
    let cookie = send(&apps[0], "/put/seed/0", None).await.cookie().unwrap();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let app = apps[i % 2].clone();
            let cookie = cookie.clone();
            tokio::spawn(async move { send(&app, &format!("/put/k{i}/{i}"), Some(&cookie)).await })
        })
        .collect();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 200, "a writer failed");
        assert_eq!(reply.cookie().map(|c| id_of(&c)), Some(id_of(&cookie)));
    }
    let data = send(&apps[0], "/all", Some(&cookie)).await.data();
    for i in 0..WRITERS {
        assert_eq!(
            data.get(&format!("k{i}")),
            Some(&json!(i.to_string())),
            "k{i} was lost"
        );
    }
    assert_eq!(data.len(), WRITERS + 1);
}

/// `clients` clients, split over two app servers (the store's two handles, each behind its
/// own layer), each send `requests` requests to `uri` one after another, all on the session
/// `cookie`. Returns every status, in no particular order.
async fn hammer(
    h: &Harness,
    uri: &str,
    cookie: &str,
    clients: usize,
    requests: usize,
) -> Vec<StatusCode> {
    let apps = [
        app(h.store.clone(), shared_clock(&h.clock)),
        app(h.peer.clone(), shared_clock(&h.clock)),
    ];
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let app = apps[i % 2].clone();
            let (uri, cookie) = (uri.to_owned(), cookie.to_owned());
            tokio::spawn(async move {
                let mut statuses = Vec::with_capacity(requests);
                for _ in 0..requests {
                    statuses.push(send(&app, &uri, Some(&cookie)).await.status);
                }
                statuses
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.extend(task.await.unwrap());
    }
    statuses
}

/// Checks that every answer was `200` or `409` and that the count (seeded at 1) is 1 plus the
/// increments answered `200`; returns how many were.
async fn assert_acknowledged_are_kept(h: &Harness, cookie: &str, statuses: &[StatusCode]) -> usize {
    let kept = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let others: Vec<_> = statuses
        .iter()
        .filter(|s| !matches!(**s, StatusCode::OK | StatusCode::CONFLICT))
        .collect();
    assert!(others.is_empty(), "only 200 or 409: {others:?}");
    assert_eq!(
        count(h, cookie).await,
        1 + kept as u64,
        "every acknowledged increment is kept, none beyond ({kept} of {} acknowledged)",
        statuses.len()
    );
    kept
}

async fn count(h: &Harness, cookie: &str) -> u64 {
    let data = send(
        &app(h.store.clone(), shared_clock(&h.clock)),
        "/all",
        Some(cookie),
    )
    .await
    .data();
    data.get("n").and_then(serde_json::Value::as_u64).unwrap()
}

/// Read-modify-write with `update` on one key from many clients and two app servers: every
/// increment is acknowledged and kept.
pub async fn concurrent_updates_lose_nothing(h: Harness) {
    const CLIENTS: usize = 8;
    const REQUESTS: usize = 25;
    let seed = send(
        &app(h.store.clone(), shared_clock(&h.clock)),
        "/update/n",
        None,
    )
    .await;
    let cookie = seed.cookie().unwrap();
    let statuses = hammer(&h, "/update/n", &cookie, CLIENTS, REQUESTS).await;
    let kept = assert_acknowledged_are_kept(&h, &cookie, &statuses).await;
    assert_eq!(kept, CLIENTS * REQUESTS, "every update acknowledged");
}

/// `get` then `insert` of one key from many clients and two app servers: a request whose read
/// went stale is refused with 409, never silently lost; every 200 is an increment kept.
pub async fn concurrent_get_then_insert_is_kept_or_refused(h: Harness) {
    const CLIENTS: usize = 8;
    const REQUESTS: usize = 10;
    let seed = send(
        &app(h.store.clone(), shared_clock(&h.clock)),
        "/get-then-insert/n",
        None,
    )
    .await;
    let cookie = seed.cookie().unwrap();
    let statuses = hammer(&h, "/get-then-insert/n", &cookie, CLIENTS, REQUESTS).await;
    let kept = assert_acknowledged_are_kept(&h, &cookie, &statuses).await;
    assert!(kept > 0, "some increments get through");
}

pub async fn keys_are_isolated(h: Harness) {
    let app = app(h.store.clone(), shared_clock(&h.clock));
    let a = send(&app, "/put/who/a", None).await.cookie().unwrap();
    let b = send(&app, "/put/who/b", None).await.cookie().unwrap();
    assert_ne!(a, b);
    assert_eq!(
        send(&app, "/all", Some(&a)).await.data().get("who"),
        Some(&json!("a"))
    );
    assert_eq!(
        send(&app, "/all", Some(&b)).await.data().get("who"),
        Some(&json!("b"))
    );
}
