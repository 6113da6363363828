//! Sessions per user through [`SessionLayer`](crate::SessionLayer) over the store: listing a
//! user's sessions, revoking one, all but the current one, or all of them, with no entry
//! outliving its session, and two app servers signing one user in at once.
//!
//! A store without an index ([`Harness::without_user_index`]) must refuse the per-user calls
//! with a clear error (`501` from the suite's app) while signing in still works.

use std::collections::HashSet;

use http::StatusCode;
use serde_json::Value;
use time::Duration;

use super::app::{app, send, App};
use super::cases::advance;
use super::Harness;
use crate::id::SessionHandle;
use crate::SessionId;

fn id_of(cookie: &str) -> SessionId {
    let value = cookie.split_once('=').expect("a name=value cookie").1;
    SessionId::parse(value.rsplit_once('.').map_or(value, |(id, _)| id)).unwrap()
}

/// A user name of this run only.
fn user(tag: &str) -> String {
    format!("{tag}-{}", &SessionId::generate().unwrap().expose()[..10])
}

async fn sign_in(app: &App, user: &str) -> String {
    let reply = send(app, &format!("/signin/{user}"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.expect_cookie()
}

async fn whoami(app: &App, cookie: &str) -> String {
    String::from_utf8(send(app, "/whoami", Some(cookie)).await.body).unwrap()
}

/// The caller's sessions as the app lists them.
async fn sessions(app: &App, cookie: &str) -> Vec<Value> {
    let reply = send(app, "/sessions", Some(cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    serde_json::from_slice::<Vec<Value>>(&reply.body).unwrap()
}

fn handles(list: &[Value]) -> HashSet<String> {
    list.iter()
        .map(|s| s["handle"].as_str().unwrap().to_owned())
        .collect()
}

fn handle_of(cookie: &str) -> String {
    SessionHandle::of(&id_of(cookie)).to_string()
}

/// Whether the store refuses the per-user calls as it must when it keeps no index; `true`
/// ends the case.
async fn refuses(h: &Harness, app: &App) -> bool {
    if h.user_index {
        return false;
    }
    let cookie = sign_in(app, &user("ada")).await;
    let reply = send(app, "/sessions", Some(&cookie)).await;
    assert_eq!(
        reply.status,
        StatusCode::NOT_IMPLEMENTED,
        "a store without an index must refuse, not answer an empty list: {reply:?}"
    );
    assert!(
        String::from_utf8_lossy(&reply.body).contains("index of sessions by user"),
        "{reply:?}"
    );
    true
}

/// A user's sessions are listed (the current one marked, each with its times, none showing
/// its id) and one of them is revoked: its next request is logged out; a handle of another
/// user's session revokes nothing.
pub async fn per_user_sessions_are_listed_and_one_revoked(h: Harness) {
    let app = app(h.store.clone(), h.clock.as_ref());
    if refuses(&h, &app).await {
        return;
    }
    let (ada, bob) = (user("ada"), user("bob"));
    let devices = [
        sign_in(&app, &ada).await,
        sign_in(&app, &ada).await,
        sign_in(&app, &ada).await,
    ];
    let bobs = sign_in(&app, &bob).await;
    let listed = sessions(&app, &devices[0]).await;
    assert_eq!(
        handles(&listed),
        devices.iter().map(|c| handle_of(c)).collect(),
        "{listed:?}"
    );
    for s in &listed {
        let current = s["handle"] == handle_of(&devices[0]);
        assert_eq!(s["current"], current, "{s}");
        // The Python profiles' dicts carry no metadata unless a setting asks for it.
        let timed = h.store.profile().user_key().is_none();
        assert_eq!(s["created"].is_string(), timed, "{s}");
        assert_eq!(s["last_seen"].is_string(), timed, "{s}");
        assert!(s["expires_at"].is_string(), "{s}");
        for cookie in &devices {
            assert!(
                !s.to_string().contains(id_of(cookie).expose()),
                "a listing shows no id"
            );
        }
    }
    let revoked = send(
        &app,
        &format!("/revoke/{}", handle_of(&devices[1])),
        Some(&devices[0]),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{revoked:?}");
    assert_eq!(
        whoami(&app, &devices[1]).await,
        "",
        "a revoked session is logged out"
    );
    assert_eq!(h.store.load(&id_of(&devices[1])).await.unwrap(), None);
    assert_eq!(whoami(&app, &devices[2]).await, ada);
    let other = send(
        &app,
        &format!("/revoke/{}", handle_of(&bobs)),
        Some(&devices[0]),
    )
    .await;
    assert_eq!(
        other.status,
        StatusCode::NOT_FOUND,
        "ada cannot revoke bob's session"
    );
    assert_eq!(whoami(&app, &bobs).await, bob);
    assert_eq!(
        handles(&sessions(&app, &devices[0]).await),
        [handle_of(&devices[0]), handle_of(&devices[2])].into()
    );
}

/// "Log out everywhere else": every other session of the user is logged out at its next
/// request, on either app server, and the current one stays; "log out everywhere" then ends
/// that one too. Another user's sessions are untouched.
pub async fn per_user_revoke_others_and_all(h: Harness) {
    let [a, b] = [
        app(h.store.clone(), h.clock.as_ref()),
        app(h.peer.clone(), h.clock.as_ref()),
    ];
    if refuses(&h, &a).await {
        return;
    }
    let (ada, bob) = (user("ada"), user("bob"));
    let here = sign_in(&a, &ada).await;
    let phone = sign_in(&b, &ada).await;
    let laptop = sign_in(&a, &ada).await;
    let bobs = sign_in(&b, &bob).await;
    let ended = send(&a, "/revoke-others", Some(&here)).await;
    assert_eq!(ended.status, StatusCode::OK, "{ended:?}");
    assert_eq!(ended.body, b"2");
    assert_eq!(
        whoami(&b, &phone).await,
        "",
        "client B is logged out on the other server"
    );
    assert_eq!(whoami(&a, &laptop).await, "");
    assert_eq!(whoami(&b, &here).await, ada, "the current session stays");
    assert_eq!(
        handles(&sessions(&b, &here).await),
        [handle_of(&here)].into()
    );
    let all = send(&b, &format!("/revoke-all/{ada}"), Some(&bobs)).await;
    assert_eq!(all.body, b"1", "{all:?}");
    assert_eq!(whoami(&a, &here).await, "");
    assert_eq!(whoami(&a, &bobs).await, bob, "bob's session is untouched");
}

/// No entry outlives its session: a cycled id, a flushed session and, by the injected clock,
/// an expired one leave the user's listing and, once listed, the index itself.
pub async fn per_user_index_leaks_nothing(h: Harness) {
    let app = app(h.store.clone(), h.clock.as_ref());
    if refuses(&h, &app).await {
        return;
    }
    let ada = user("ada");
    let first = sign_in(&app, &ada).await;
    // Signing in again on the same cookie cycles its id.
    let cycled = send(&app, &format!("/signin/{ada}"), Some(&first))
        .await
        .expect_cookie();
    assert_ne!(id_of(&first), id_of(&cycled));
    let leaving = sign_in(&app, &ada).await;
    assert_eq!(
        send(&app, "/flush", Some(&leaving)).await.status,
        StatusCode::OK
    );
    let listed = sessions(&app, &cycled).await;
    assert_eq!(handles(&listed), [handle_of(&cycled)].into(), "{listed:?}");
    let index = h.store.user_index().unwrap();
    assert_eq!(
        index.entries(&ada).await.unwrap(),
        vec![id_of(&cycled)],
        "listing prunes the entries of cycled and flushed sessions"
    );
    if h.clock.is_some() {
        advance(
            &h,
            crate::ExpiryPolicy::default().lifetime() + Duration::seconds(1),
        );
        assert_eq!(whoami(&app, &cycled).await, "");
        assert!(
            index.entries(&ada).await.unwrap().is_empty(),
            "an expired session's entry is not listed"
        );
        h.store.clear_expired().await.unwrap();
        assert_eq!(
            index.clear_expired().await.unwrap(),
            0,
            "clear_expired left index entries behind"
        );
    }
}

/// Two app servers signing one user in at once: every session is listed.
pub async fn per_user_two_servers_sign_in_at_once(h: Harness) {
    let [a, b] = [
        app(h.store.clone(), h.clock.as_ref()),
        app(h.peer.clone(), h.clock.as_ref()),
    ];
    if refuses(&h, &a).await {
        return;
    }
    let ada = user("ada");
    let sign = |app: App, ada: String| {
        tokio::spawn(async move {
            let mut cookies = Vec::new();
            for _ in 0..10 {
                cookies.push(sign_in(&app, &ada).await);
            }
            cookies
        })
    };
    let (x, y) = (sign(a.clone(), ada.clone()), sign(b, ada.clone()));
    let mut cookies = x.await.unwrap();
    cookies.extend(y.await.unwrap());
    let listed = sessions(&a, &cookies[0]).await;
    assert_eq!(
        handles(&listed),
        cookies.iter().map(|c| handle_of(c)).collect(),
        "sessions signed in at once on two servers were lost from the index"
    );
}
