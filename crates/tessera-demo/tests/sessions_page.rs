//! The demo's "your sessions" page over real HTTP, with several clients: list, revoke one,
//! log out everywhere else, and the refusals (no login, another user's session, cookie
//! sessions, a handle used as a cookie).
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::header::{ACCEPT, COOKIE, USER_AGENT};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tessera::{SessionConfig, SessionLayer};

const KEY: &str = "demo-test-secret-key-0123456789abcdefghij";

/// Serves the demo over `url` on a free loopback port, recording devices from the peer
/// address as the demo binary does; returns its base URL.
async fn serve(url: &str) -> String {
    let config = SessionConfig::builder()
        .secret_key(KEY)
        .url(url)
        .record_devices(true)
        .build()
        .unwrap();
    let layer = SessionLayer::from_config(config).await.unwrap();
    let app = tessera_demo::app(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

/// A browser: its own cookie jar and user agent.
fn browser(agent: &str) -> Client {
    Client::builder()
        .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
        .user_agent(agent)
        .build()
        .unwrap()
}

async fn login(client: &Client, base: &str, user: &str) {
    let res = client
        .post(format!("{base}/login"))
        .json(&json!({ "user": user }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn whoami(client: &Client, base: &str) -> Value {
    let res = client.get(format!("{base}/whoami")).send().await.unwrap();
    res.json::<Value>().await.unwrap()["user"].clone()
}

async fn sessions(client: &Client, base: &str) -> Vec<Value> {
    let res = client
        .get(format!("{base}/sessions"))
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["sessions"].as_array().unwrap().clone()
}

async fn post_json(client: &Client, url: String) -> (StatusCode, Value) {
    let res = client
        .post(url)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

fn the_other(list: &[Value]) -> String {
    let others: Vec<&Value> = list.iter().filter(|s| s["current"] == false).collect();
    assert_eq!(others.len(), 1, "{list:?}");
    others[0]["handle"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn two_clients_list_revoke_and_log_out_everywhere_else() {
    let dir = std::env::temp_dir().join(format!(
        "tessera-demo-sessions-{}",
        tessera::SessionId::generate().unwrap().expose()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = format!("sqlite://{}/sessions.db", dir.display());
    for url in ["memory", sqlite.as_str()] {
        let base = serve(url).await;
        let (a, b, bob) = (
            browser("Browser A"),
            browser("Browser B"),
            browser("Browser C"),
        );
        login(&a, &base, "ada").await;
        login(&b, &base, "ada").await;
        login(&bob, &base, "bob").await;

        let list = sessions(&a, &base).await;
        assert_eq!(list.len(), 2, "{url}: {list:?}");
        let current: Vec<&Value> = list.iter().filter(|s| s["current"] == true).collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0]["user_agent"], "Browser A");
        for s in &list {
            assert_eq!(s["handle"].as_str().unwrap().len(), 22);
            assert!(s["created"].is_i64() && s["last_seen"].is_i64(), "{s}");
        }
        let b_handle = the_other(&list);

        // A handle is no credential: as a cookie it is a fresh session.
        let forged = Client::new()
            .get(format!("{base}/whoami"))
            .header(COOKIE, format!("session={b_handle}"))
            .send()
            .await
            .unwrap();
        assert_eq!(forged.json::<Value>().await.unwrap()["user"], Value::Null);

        // Revoke B from A: B's next request is logged out, A and bob stay.
        let (status, body) = post_json(&a, format!("{base}/sessions/{b_handle}/revoke")).await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({"revoked": 1})),
            "{url}"
        );
        assert_eq!(
            whoami(&b, &base).await,
            Value::Null,
            "{url}: B is logged out"
        );
        assert_eq!(whoami(&a, &base).await, "ada");
        assert_eq!(sessions(&a, &base).await.len(), 1);

        // Another user's session cannot be revoked.
        let bobs = sessions(&bob, &base).await[0]["handle"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, _) = post_json(&a, format!("{base}/sessions/{bobs}/revoke")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(whoami(&bob, &base).await, "bob");

        // B logs in again; "log out everywhere else" from A ends it.
        login(&b, &base, "ada").await;
        assert_eq!(sessions(&a, &base).await.len(), 2);
        let (status, body) = post_json(&a, format!("{base}/sessions/revoke-others")).await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({"revoked": 1})),
            "{url}"
        );
        assert_eq!(
            whoami(&b, &base).await,
            Value::Null,
            "{url}: B is logged out everywhere else"
        );
        assert_eq!(whoami(&a, &base).await, "ada");
        assert_eq!(whoami(&bob, &base).await, "bob");

        // The HTML page marks the current session and offers the actions.
        let page = a
            .get(format!("{base}/sessions"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("Your sessions") && page.contains("this session"),
            "{page}"
        );
        assert!(page.contains("Browser A") && page.contains("id=\"revoke-others\""));

        // A form post redirects back to the page.
        login(&b, &base, "ada").await;
        let b_handle = the_other(&sessions(&a, &base).await);
        let form = a
            .post(format!("{base}/sessions/{b_handle}/revoke"))
            .send()
            .await
            .unwrap();
        assert_eq!(form.status(), StatusCode::OK, "followed to the page");
        assert!(form.url().path().ends_with("/sessions"));
        assert_eq!(whoami(&b, &base).await, Value::Null);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_page_needs_a_login_and_a_store_that_keeps_an_index() {
    let base = serve("memory").await;
    let nobody = browser("x");
    let res = nobody.get(format!("{base}/sessions")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = nobody
        .post(format!("{base}/sessions/revoke-others"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let cookies = serve("cookie+encrypted").await;
    let client = browser("x");
    login(&client, &cookies, "ada").await;
    let res = client
        .get(format!("{cookies}/sessions"))
        .header(USER_AGENT, "x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_IMPLEMENTED);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("cookie sessions"),
        "{body}"
    );
}
