//! The demo as its users run it: the binary, its default SQLite store, a restart in between.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{json, Value};

mod support;

use support::{demo_in, free_port, Demo};

/// Starts the demo in `dir` with no SECRET_KEY or SESSION_URL and waits until it answers.
async fn start(dir: &Path, port: u16) -> Demo {
    let child = demo_in(dir, port).stderr(Stdio::null()).spawn().unwrap();
    let demo = Demo(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("http://127.0.0.1:{port}/whoami"))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the demo did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    demo
}

#[tokio::test]
async fn a_login_survives_a_restart_of_the_demo() {
    let dir = std::env::temp_dir().join(format!("tessera-demo-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let client = reqwest::Client::new();

    let demo = start(&dir, port).await;
    let res = client
        .post(format!("http://127.0.0.1:{port}/login"))
        .json(&json!({"user": "ada"}))
        .send()
        .await
        .unwrap();
    let cookie = res.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    drop(demo);

    assert!(
        dir.join("tessera-demo.db").exists(),
        "the default store is an SQLite file"
    );
    let key = dir.join("tessera-demo.key");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions())
            & 0o777,
        0o600
    );

    let _demo = start(&dir, port).await;
    let who: Value = client
        .get(format!("http://127.0.0.1:{port}/whoami"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        who,
        json!({"user": "ada"}),
        "still logged in after the restart"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
