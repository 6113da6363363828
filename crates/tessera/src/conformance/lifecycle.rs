//! Whole requests through [`SessionLayer`](crate::SessionLayer) over the store: cookies, ids,
//! flushes, and two app servers writing one session at once.

use http::StatusCode;
use serde_json::json;

use super::app::{app, send, App, SECRET};
use super::cases::id;
use super::Harness;
use crate::crypto::{KeyRing, Purpose, SecretKey, Signer};
use crate::store::Error;
use crate::{Profile, SessionId};

fn app_of(h: &Harness) -> App {
    app(h.store.clone(), h.clock.as_ref())
}

/// The store's two handles, each behind its own layer: two app servers.
fn two_apps(h: &Harness) -> [App; 2] {
    [
        app(h.store.clone(), h.clock.as_ref()),
        app(h.peer.clone(), h.clock.as_ref()),
    ]
}

fn id_of(cookie: &str) -> SessionId {
    let value = cookie.split_once('=').expect("a name=value cookie").1;
    // Signed ids are `id.signature`; Django's cookie carries the bare key.
    SessionId::parse(value.rsplit_once('.').map_or(value, |(id, _)| id)).unwrap()
}

/// The cookie naming `id`, as the layer over `h`'s store would set it.
fn signed_cookie_for(h: &Harness, id: &SessionId) -> String {
    if h.store.profile() == Profile::Django {
        format!("session={}", id.expose())
    } else {
        let ring = KeyRing::new(SecretKey::new(SECRET).unwrap());
        format!(
            "session={}",
            Signer::new(&ring, Purpose::IdCookie).sign("session", id.expose())
        )
    }
}

/// A cookie naming no session, a tampered one, and one naming a corrupt record (when the
/// harness can plant one) all give fresh sessions under new ids, never an error.
pub async fn corrupt_record_is_a_fresh_session(h: Harness) {
    let app = app_of(&h);
    // A cookie naming no session, and a tampered one: fresh sessions, never the client's id.
    let unknown = id(&h);
    let reply = send(&app, "/put/a/1", Some(&signed_cookie_for(&h, &unknown))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_ne!(
        id_of(&reply.expect_cookie()),
        unknown,
        "never adopt a client-chosen id"
    );
    let reply = send(
        &app,
        "/all",
        Some(&format!("{}x", signed_cookie_for(&h, &unknown))),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
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
        "a corrupt record is a fresh session, not an error: {reply:?}"
    );
    assert!(reply.data().is_empty());
    let reply = send(&app, "/put/a/1", Some(&signed_cookie_for(&h, &id))).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_ne!(id_of(&reply.expect_cookie()), id);
}

/// `cycle_id` moves the data to a new id and removes the old record.
pub async fn lifecycle_cycle_id(h: Harness) {
    let app = app_of(&h);
    let first = send(&app, "/put/a/1", None).await.expect_cookie();
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

/// `flush` deletes the record and the cookie.
pub async fn lifecycle_flush(h: Harness) {
    let app = app_of(&h);
    let cookie = send(&app, "/put/a/1", None).await.expect_cookie();
    assert!(h.store.exists(&id_of(&cookie)).await.unwrap());
    let reply = send(&app, "/flush", Some(&cookie)).await;
    assert!(reply.removes_cookie(), "{:?}", reply.set_cookie);
    assert_eq!(h.store.load(&id_of(&cookie)).await.unwrap(), None);
    assert!(send(&app, "/all", Some(&cookie)).await.data().is_empty());
}

/// A request that only reads writes nothing and sends no cookie; one that never loads the
/// session does not even vary on the cookie; an empty new session is never stored.
pub async fn lifecycle_read_only_writes_nothing(h: Harness) {
    let app = app_of(&h);
    let cookie = send(&app, "/put/a/1", None).await.expect_cookie();
    let version = async || {
        let loaded = h.store.load(&id_of(&cookie)).await.unwrap();
        loaded.expect("the session just saved").version
    };
    let before = version().await;
    let reply = send(&app, "/all", Some(&cookie)).await;
    assert!(reply.set_cookie.is_empty(), "a read sends no cookie");
    assert_eq!(reply.vary, ["Cookie"]);
    let after = version().await;
    assert_eq!(before, after, "a read writes nothing");
    let untouched = send(&app, "/untouched", Some(&cookie)).await;
    assert!(untouched.set_cookie.is_empty() && untouched.vary.is_empty());
    // An empty new session is never stored and gets no cookie.
    let empty = send(&app, "/all", None).await;
    assert!(empty.set_cookie.is_empty());
}

/// 40 requests on two app servers each insert their own key into one session: none is lost.
pub async fn concurrent_writers_lose_nothing(h: Harness) {
    const WRITERS: usize = 40;
    let apps = two_apps(&h);
    let cookie = send(&apps[0], "/put/seed/0", None).await.expect_cookie();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let app = apps[i % 2].clone();
            let cookie = cookie.clone();
            tokio::spawn(async move { send(&app, &format!("/put/k{i}/{i}"), Some(&cookie)).await })
        })
        .collect();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 200, "a writer failed: {reply:?}");
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

/// `clients` clients, split over two app servers, each send `requests` requests to `uri` one
/// after another, all on the session `cookie`. Returns every status, in no particular order.
async fn hammer(
    h: &Harness,
    uri: &str,
    cookie: &str,
    clients: usize,
    requests: usize,
) -> Vec<StatusCode> {
    let apps = two_apps(h);
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
    let data = send(&app_of(h), "/all", Some(cookie)).await.data();
    data.get("n")
        .and_then(serde_json::Value::as_u64)
        .expect("a count under `n`")
}

/// Read-modify-write with `update` on one key from many clients and two app servers: every
/// increment is acknowledged and kept.
pub async fn concurrent_updates_lose_nothing(h: Harness) {
    const CLIENTS: usize = 8;
    const REQUESTS: usize = 25;
    let cookie = send(&app_of(&h), "/update/n", None).await.expect_cookie();
    let statuses = hammer(&h, "/update/n", &cookie, CLIENTS, REQUESTS).await;
    let kept = assert_acknowledged_are_kept(&h, &cookie, &statuses).await;
    assert_eq!(kept, CLIENTS * REQUESTS, "every update acknowledged");
}

/// `get` then `insert` of one key from many clients and two app servers: a request whose read
/// went stale is refused with 409, never silently lost; every 200 is an increment kept.
pub async fn concurrent_get_then_insert_is_kept_or_refused(h: Harness) {
    const CLIENTS: usize = 8;
    const REQUESTS: usize = 10;
    let cookie = send(&app_of(&h), "/get-then-insert/n", None)
        .await
        .expect_cookie();
    let statuses = hammer(&h, "/get-then-insert/n", &cookie, CLIENTS, REQUESTS).await;
    let kept = assert_acknowledged_are_kept(&h, &cookie, &statuses).await;
    assert!(kept > 0, "some increments get through");
}

/// Two sessions never see each other's data.
pub async fn keys_are_isolated(h: Harness) {
    let app = app_of(&h);
    let a = send(&app, "/put/who/a", None).await.expect_cookie();
    let b = send(&app, "/put/who/b", None).await.expect_cookie();
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
