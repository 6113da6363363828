//! The demo driven over real HTTP with a cookie-keeping client.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use reqwest::header::{COOKIE, SET_COOKIE, VARY};
use reqwest::Client;
use serde_json::{json, Value};
use tessera::store::OpenOptions;
use tessera::{SessionConfig, SessionLayer, Storage};

const KEY: &str = "demo-test-secret-key-0123456789abcdefghij";
const STORAGES: [&str; 3] = ["memory", "cookie+signed", "cookie+encrypted"];

/// Serves the demo on a free loopback port; returns its base URL.
async fn serve(url: &str) -> String {
    let storage = Storage::open(url, &OpenOptions::default()).await.unwrap();
    serve_on(storage).await
}

async fn serve_on(storage: Storage) -> String {
    let config = SessionConfig::builder().secret_key(KEY).build().unwrap();
    let app = tessera_demo::app(SessionLayer::new(storage, config).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn browser() -> Client {
    Client::builder()
        .cookie_provider(Arc::new(reqwest::cookie::Jar::default()))
        .build()
        .unwrap()
}

fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

#[tokio::test]
async fn the_counter_counts() {
    for storage in STORAGES {
        let base = serve(storage).await;
        let client = browser();
        for expected in 1..=3 {
            let body: Value = client
                .get(format!("{base}/counter"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(body, json!({"count": expected}), "{storage}");
        }
        let other: Value = browser()
            .get(format!("{base}/counter"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            other,
            json!({"count": 1}),
            "{storage}: another browser has its own session"
        );
    }
}

#[tokio::test]
async fn a_tampered_cookie_is_a_fresh_session() {
    for storage in STORAGES {
        let base = serve(storage).await;
        let client = Client::new();
        let first = client.get(format!("{base}/counter")).send().await.unwrap();
        let cookie = session_cookie(&first).unwrap();
        let second = client
            .get(format!("{base}/counter"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(second.json::<Value>().await.unwrap(), json!({"count": 2}));
        let mut tampered = cookie.into_bytes();
        let i = tampered.len() - 5;
        tampered[i] = if tampered[i] == b'a' { b'b' } else { b'a' };
        let res = client
            .get(format!("{base}/counter"))
            .header(COOKIE, String::from_utf8(tampered).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{storage}");
        assert_eq!(
            res.json::<Value>().await.unwrap(),
            json!({"count": 1}),
            "{storage}"
        );
    }
}

#[tokio::test]
async fn login_whoami_logout() {
    for storage in STORAGES {
        let base = serve(storage).await;
        let client = Client::new();
        let visit = client.get(format!("{base}/counter")).send().await.unwrap();
        let anonymous = session_cookie(&visit).unwrap();

        let res = client
            .post(format!("{base}/login"))
            .header(COOKIE, &anonymous)
            .form(&[("user", "ada")])
            .send()
            .await
            .unwrap();
        let logged_in = session_cookie(&res).expect("login sets the cookie");
        assert_ne!(
            logged_in, anonymous,
            "{storage}: login changes the cookie value"
        );
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"user": "ada"}));

        let who = client
            .get(format!("{base}/whoami"))
            .header(COOKIE, &logged_in)
            .send()
            .await
            .unwrap();
        assert!(
            who.headers().get(SET_COOKIE).is_none(),
            "{storage}: /whoami must not write"
        );
        assert_eq!(who.headers().get(VARY).unwrap(), "Cookie");
        assert_eq!(who.json::<Value>().await.unwrap(), json!({"user": "ada"}));

        let json_login = client
            .post(format!("{base}/login"))
            .json(&json!({"user": "grace"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            json_login.json::<Value>().await.unwrap(),
            json!({"user": "grace"})
        );

        let out = client
            .post(format!("{base}/logout"))
            .header(COOKIE, &logged_in)
            .send()
            .await
            .unwrap();
        let removal = out
            .headers()
            .get(SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            removal.starts_with("session=;") && removal.contains("Max-Age=0"),
            "{removal}"
        );

        if storage == "memory" {
            // The server forgot the session: the old cookie no longer logs anyone in.
            let who = client
                .get(format!("{base}/whoami"))
                .header(COOKIE, &logged_in)
                .send()
                .await
                .unwrap();
            assert_eq!(who.json::<Value>().await.unwrap(), json!({"user": null}));
        }
        let nobody = client.get(format!("{base}/whoami")).send().await.unwrap();
        assert!(nobody.headers().get(SET_COOKIE).is_none());
        assert_eq!(nobody.json::<Value>().await.unwrap(), json!({"user": null}));
    }
}

#[tokio::test]
async fn login_rejects_a_missing_or_overlong_user() {
    let base = serve("memory").await;
    let client = Client::new();
    for body in [json!({"user": ""}), json!({"user": "x".repeat(65)})] {
        let res = client
            .post(format!("{base}/login"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422);
        assert!(res.headers().get(SET_COOKIE).is_none());
    }
    let res = client
        .post(format!("{base}/login"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());
}

#[tokio::test]
async fn the_page_shows_the_session_escaped() {
    let base = serve("cookie+encrypted").await;
    let client = browser();
    client
        .post(format!("{base}/login"))
        .json(&json!({"user": "<script>x</script>"}))
        .send()
        .await
        .unwrap();
    let page = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.headers().get(VARY).unwrap(), "Cookie");
    let html = page.text().await.unwrap();
    assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
    assert!(!html.contains("<script>x</script>"));
}

/// The store URLs the demo is run on, with the loopback defaults of the library's tests.
fn store_urls() -> Vec<(String, String)> {
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let dir = std::env::temp_dir().join(format!("tessera-demo-file-{}", std::process::id()));
    vec![
        (
            "redis".into(),
            env("TESSERA_REDIS_URL", "redis://127.0.0.1:6379"),
        ),
        (
            "memcached".into(),
            env("TESSERA_MEMCACHED_URL", "memcached://127.0.0.1:11211"),
        ),
        ("file".into(), format!("file://{}", dir.display())),
        ("sqlite".into(), "sqlite::memory:".into()),
        (
            "postgres".into(),
            env(
                "TESSERA_POSTGRES_URL",
                "postgres://postgres@127.0.0.1:5432/test",
            ) + "?table=tessera_demo_test",
        ),
        (
            "mysql".into(),
            env("TESSERA_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
                + "?table=tessera_demo_test",
        ),
        (
            "mongodb".into(),
            env("TESSERA_MONGODB_URL", "mongodb://127.0.0.1:27018") + "/tessera_demo_test",
        ),
    ]
}

/// Counter, login, whoami and logout on every server-side store. Each flow ends by logging
/// out, which deletes what it stored.
#[tokio::test]
async fn the_demo_runs_on_every_store() {
    let required = std::env::var("TESSERA_REQUIRE_SERVICES").as_deref() == Ok("1");
    let options = OpenOptions::default()
        .with_key_prefix(format!("tessera-demo-test-{}:", std::process::id()))
        .with_timeout(std::time::Duration::from_secs(5));
    for (name, url) in store_urls() {
        let storage = match Storage::open(&url, &options).await {
            Ok(storage) => storage,
            Err(error) if !required => {
                eprintln!("\n*** SKIPPED the demo on {name}: {error}; set TESSERA_REQUIRE_SERVICES=1 to fail instead ***\n");
                continue;
            }
            Err(error) => panic!("the demo on {name} needs its server: {error}"),
        };
        let base = serve_on(storage).await;
        let client = Client::new();
        let counter = client.get(format!("{base}/counter")).send().await.unwrap();
        let first = session_cookie(&counter).unwrap();
        let login = client
            .post(format!("{base}/login"))
            .header(COOKIE, &first)
            .json(&json!({"user": "ada"}))
            .send()
            .await
            .unwrap();
        let cookie = session_cookie(&login).unwrap();
        assert_ne!(cookie, first, "{name}");
        let who: Value = client
            .get(format!("{base}/whoami"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(who, json!({"user": "ada"}), "{name}");
        let out = client
            .post(format!("{base}/logout"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert!(
            out.headers()[SET_COOKIE]
                .to_str()
                .unwrap()
                .contains("Max-Age=0"),
            "{name}"
        );
        let who: Value = client
            .get(format!("{base}/whoami"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            who,
            json!({"user": null}),
            "{name}: logged out on the server too"
        );
    }
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("tessera-demo-file-{}", std::process::id())),
    );
}
