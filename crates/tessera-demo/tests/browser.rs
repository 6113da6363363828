//! The demo in headless Chromium, through WebDriver: for each storage, the counter, the
//! HttpOnly cookie, two tabs sharing a login, a second profile with its own session, a
//! tampered cookie, and the "your sessions" page revoking another browser's login. On a failure the browsers' screenshots go to
//! `target/test-artifacts/browser/<check>-<storage>.png`.
//!
//! Skipped, loudly, without Chromium and chromedriver (`scripts/services/chromium.sh`
//! installs them), unless `TESSERA_REQUIRE_SERVICES=1`.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::Client;
use serde_json::Value;

mod support;

use support::browser::{
    artifacts_dir, click, ensure, temp_dir, text, type_into, wait_for_text, Chromedriver, Outcome,
    Screen,
};
use support::{demo_in, free_port, Demo};

/// What the page shows for a session without a user or a count.
const NOBODY: &str = "nobody (not logged in)";
const NO_COUNT: &str = "none yet";
/// The demo's cookie name (the `native` profile's default).
const COOKIE: &str = "session";

/// One storage the demo runs on.
#[derive(Clone, Copy)]
struct Storage {
    /// Its part of a screenshot's file name.
    name: &'static str,
    /// `SESSION_URL`, or `None` for the demo's default (an SQLite file in its directory).
    url: Option<&'static str>,
    /// What the page names it.
    label: &'static str,
}

const MEMORY: Storage = Storage {
    name: "memory",
    url: Some("memory"),
    label: "memory (this process)",
};
const SIGNED_COOKIE: Storage = Storage {
    name: "cookie",
    url: Some("cookie"),
    label: "signed cookie",
};
const ENCRYPTED_COOKIE: Storage = Storage {
    name: "cookie-encrypted",
    url: Some("cookie+encrypted"),
    label: "encrypted cookie",
};
const SQLITE: Storage = Storage {
    name: "sqlite",
    url: None,
    label: "SQLite (tessera-demo.db)",
};

/// Starts the demo on `storage` in `dir` (where its default SQLite file and generated key
/// go), with no SECRET_KEY, and waits until it answers. A demo that exits before answering is
/// started again on another port, twice at most: the free port it was given can be taken by
/// another test's browser before the demo binds it.
async fn start_demo(storage: Storage, dir: &Path) -> (Demo, String) {
    let log = dir.join("demo-stderr.log");
    for attempt in 1..=3 {
        let port = free_port();
        let mut command = demo_in(dir, port);
        command.stderr(std::fs::File::create(&log).unwrap());
        if let Some(url) = storage.url {
            command.env("SESSION_URL", url);
        }
        let mut demo = Demo(command.spawn().unwrap());
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if reqwest::get(format!("{base}/whoami")).await.is_ok() {
                return (demo, base);
            }
            let exited = demo.0.try_wait().unwrap();
            let said = || std::fs::read_to_string(&log).unwrap_or_default();
            match exited {
                Some(status) if attempt < 3 => {
                    eprintln!(
                        "browser: the demo on {} exited ({status}), starting it again: {}",
                        storage.name,
                        said()
                    );
                    break;
                }
                Some(status) => panic!(
                    "the demo on {} did not start ({status}): {}",
                    storage.name,
                    said()
                ),
                None => assert!(
                    Instant::now() < deadline,
                    "the demo on {} did not answer within 30 s: {}",
                    storage.name,
                    said()
                ),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    unreachable!("the third attempt either answers or panics")
}

/// One storage's checks: a chromedriver, a demo, and the browsers the current check opened.
struct Run {
    driver: Chromedriver,
    base: String,
    storage: Storage,
    clients: Vec<Client>,
}

impl Run {
    /// A new browser (a new profile, so its own cookie jar) at desktop size.
    async fn browser(&mut self) -> Outcome<Client> {
        self.sized_browser(Screen::Desktop {
            width: 1024,
            height: 768,
        })
        .await
    }

    async fn sized_browser(&mut self, screen: Screen) -> Outcome<Client> {
        let client = self.driver.browser(screen).await?;
        self.clients.push(client.clone());
        Ok(client)
    }

    /// Ends `check`'s browsers, after a screenshot of each if it failed; the failure's
    /// message, if any.
    async fn finish(&mut self, check: &str, outcome: Outcome, started: Instant) -> Option<String> {
        eprintln!(
            "browser: {check} on {}: {} in {:.1?}",
            self.storage.name,
            if outcome.is_ok() { "ok" } else { "FAILED" },
            started.elapsed()
        );
        let failure = match outcome {
            Ok(()) => None,
            Err(error) => {
                let mut message = format!("{check} on {}: {error}", self.storage.name);
                let dir = artifacts_dir();
                let _ = std::fs::create_dir_all(&dir);
                for (i, client) in self.clients.iter().enumerate() {
                    let suffix = if i == 0 {
                        String::new()
                    } else {
                        format!("-{}", i + 1)
                    };
                    let path = dir.join(format!("{check}-{}{suffix}.png", self.storage.name));
                    match client.screenshot().await {
                        Ok(png) if std::fs::write(&path, &png).is_ok() => {
                            message.push_str(&format!("\n  screenshot: {}", path.display()));
                        }
                        _ => message.push_str(&format!("\n  (no screenshot: {})", path.display())),
                    }
                }
                eprintln!("{message}");
                Some(message)
            }
        };
        for client in self.clients.drain(..) {
            let _ = client.close().await;
        }
        failure
    }
}

/// Runs every check on `storage`, each in browsers of its own, then fails listing those that
/// failed.
async fn in_a_browser(storage: Storage) {
    let Some(driver) = Chromedriver::start().await else {
        return;
    };
    let dir = temp_dir(storage.name);
    let (demo, base) = start_demo(storage, &dir).await;
    let mut run = Run {
        driver,
        base,
        storage,
        clients: Vec::new(),
    };
    let mut failures = Vec::new();
    macro_rules! check {
        ($check:ident) => {
            let started = Instant::now();
            let outcome = $check(&mut run).await;
            failures.extend(run.finish(stringify!($check), outcome, started).await);
        };
    }
    check!(counts_across_reloads);
    check!(cookie_is_http_only);
    check!(tabs_share_the_session);
    check!(profiles_have_their_own_sessions);
    check!(tampered_cookie_gives_a_fresh_session);
    check!(sessions_page_revokes_the_other_browser);
    drop(demo);
    drop(run);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn memory() {
    in_a_browser(MEMORY).await;
}

#[tokio::test]
async fn signed_cookie() {
    in_a_browser(SIGNED_COOKIE).await;
}

#[tokio::test]
async fn encrypted_cookie() {
    in_a_browser(ENCRYPTED_COOKIE).await;
}

#[tokio::test]
async fn default_sqlite() {
    in_a_browser(SQLITE).await;
}

async fn log_in(client: &Client, user: &str) -> Outcome {
    type_into(client, "#user", user).await?;
    click(client, "#login").await?;
    wait_for_text(client, "#who", user).await
}

async fn count_to(client: &Client, n: u64) -> Outcome {
    click(client, "#count-button").await?;
    wait_for_text(client, "#count", &n.to_string()).await
}

async fn counts_across_reloads(run: &mut Run) -> Outcome {
    let page = run.browser().await?;
    page.goto(&run.base).await?;
    wait_for_text(&page, "#count", NO_COUNT).await?;
    wait_for_text(&page, "#storage", run.storage.label).await?;
    count_to(&page, 1).await?;
    count_to(&page, 2).await?;
    page.refresh().await?;
    wait_for_text(&page, "#count", "2").await?;
    page.goto(&run.base).await?;
    wait_for_text(&page, "#count", "2").await?;
    let expiry = text(&page, "#expiry").await?;
    ensure(
        expiry.starts_with("in 31 days ("),
        format!("#expiry reads {expiry:?}, expected the default 31 days and a date"),
    )?;
    // The read-only route agrees with the page.
    page.goto(&format!("{}/count", run.base)).await?;
    let body: Value = serde_json::from_str(&text(&page, "body").await?)?;
    ensure(
        body == serde_json::json!({"count": 2}),
        format!("/count says {body}"),
    )
}

async fn cookie_is_http_only(run: &mut Run) -> Outcome {
    let page = run.browser().await?;
    page.goto(&run.base).await?;
    count_to(&page, 1).await?;
    let script_sees = page.execute("return document.cookie", Vec::new()).await?;
    let script_sees = script_sees.as_str().unwrap_or_default();
    ensure(
        !script_sees.contains(&format!("{COOKIE}=")),
        format!("document.cookie shows the session cookie: {script_sees:?}"),
    )?;
    let cookie = page.get_named_cookie(COOKIE).await?;
    ensure(
        !cookie.value().is_empty(),
        "WebDriver sees an empty session cookie",
    )?;
    ensure(
        cookie.http_only() == Some(true),
        format!(
            "the session cookie is not HttpOnly: {:?}",
            cookie.http_only()
        ),
    )
}

async fn tabs_share_the_session(run: &mut Run) -> Outcome {
    let page = run.browser().await?;
    page.goto(&run.base).await?;
    log_in(&page, "ada").await?;
    let first = page.window().await?;
    let second = page.new_window(true).await?.handle;
    page.switch_to_window(second).await?;
    page.goto(&run.base).await?;
    wait_for_text(&page, "#who", "ada").await?;
    click(&page, "#whoami").await?;
    wait_for_text(&page, "#out", r#"{"user":"ada"}"#).await?;
    click(&page, "#logout").await?;
    wait_for_text(&page, "#who", NOBODY).await?;
    page.switch_to_window(first).await?;
    page.refresh().await?;
    wait_for_text(&page, "#who", NOBODY).await?;
    wait_for_text(&page, "#count", NO_COUNT).await
}

async fn profiles_have_their_own_sessions(run: &mut Run) -> Outcome {
    let first = run.browser().await?;
    first.goto(&run.base).await?;
    log_in(&first, "grace").await?;
    count_to(&first, 1).await?;
    count_to(&first, 2).await?;

    let second = run.browser().await?;
    second.goto(&run.base).await?;
    wait_for_text(&second, "#who", NOBODY).await?;
    wait_for_text(&second, "#count", NO_COUNT).await?;
    count_to(&second, 1).await?;
    ensure(
        first.get_named_cookie(COOKIE).await?.value()
            != second.get_named_cookie(COOKIE).await?.value(),
        "two profiles hold the same session cookie",
    )?;

    first.refresh().await?;
    wait_for_text(&first, "#who", "grace").await?;
    wait_for_text(&first, "#count", "2").await
}

/// `value` with one character changed, away from the ends (where base64's last character
/// may carry unused bits, so a change there can decode to the same bytes).
fn tamper(value: &str) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    let middle = chars.len() / 2;
    let at = (middle..chars.len())
        .chain(0..middle)
        .find(|&i| chars[i].is_ascii_alphanumeric())
        .unwrap();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

async fn tampered_cookie_gives_a_fresh_session(run: &mut Run) -> Outcome {
    let page = run.browser().await?;
    page.goto(&run.base).await?;
    log_in(&page, "ada").await?;
    count_to(&page, 1).await?;

    // The same cookie (domain, path, HttpOnly, SameSite) with one character changed.
    let mut cookie = page.get_named_cookie(COOKIE).await?;
    let tampered = tamper(cookie.value());
    cookie.set_value(tampered.clone());
    page.delete_cookie(COOKIE).await?;
    page.add_cookie(cookie).await?;
    ensure(
        page.get_named_cookie(COOKIE).await?.value() == tampered,
        "the tampered cookie did not replace the session cookie",
    )?;

    page.refresh().await?;
    let status = page
        .execute(
            "return performance.getEntriesByType('navigation')[0].responseStatus",
            Vec::new(),
        )
        .await?;
    ensure(
        status == serde_json::json!(200),
        format!("the page answered {status} to a tampered cookie"),
    )?;
    ensure(
        page.title().await? == "tessera demo",
        "not the demo page after a tampered cookie",
    )?;
    wait_for_text(&page, "#who", NOBODY).await?;
    wait_for_text(&page, "#count", NO_COUNT).await?;
    let contents = text(&page, "#contents").await?;
    ensure(
        contents.contains("The session is empty"),
        format!("#contents reads {contents:?}"),
    )?;
    // The fresh session works as any other.
    count_to(&page, 1).await
}

/// The page at phone and desktop width, logged in with a count: nothing wider than the
/// screen, and a screenshot of each in `target/test-artifacts/browser/` (with
/// `TESSERA_UPDATE_SCREENSHOTS=1`, also in `docs/`, the README's pictures).
#[tokio::test]
async fn the_page_fits_a_phone_screen() {
    let Some(driver) = Chromedriver::start().await else {
        return;
    };
    let dir = temp_dir("page");
    let (demo, base) = start_demo(SQLITE, &dir).await;
    let mut run = Run {
        driver,
        base,
        storage: SQLITE,
        clients: Vec::new(),
    };
    let mut failures = Vec::new();
    for (check, screen, picture) in [
        (
            "phone_width",
            Screen::Phone {
                width: 390,
                height: 844,
            },
            "demo-page.png",
        ),
        (
            "desktop_width",
            Screen::Desktop {
                width: 1024,
                height: 720,
            },
            "demo-page-wide.png",
        ),
    ] {
        let started = Instant::now();
        let outcome = screenshot_at(&mut run, screen, picture).await;
        failures.extend(run.finish(check, outcome, started).await);
    }
    drop(demo);
    drop(run);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

async fn screenshot_at(run: &mut Run, screen: Screen, picture: &str) -> Outcome {
    let width = screen.width();
    let page = run.sized_browser(screen).await?;
    page.goto(&run.base).await?;
    log_in(&page, "ada").await?;
    for n in 1..=3 {
        count_to(&page, n).await?;
    }
    let widths = page
        .execute(
            "return [window.innerWidth, document.documentElement.scrollWidth]",
            Vec::new(),
        )
        .await?;
    let (inner, scroll) = (widths[0].as_u64(), widths[1].as_u64());
    ensure(
        inner == Some(u64::from(width)),
        format!("the viewport is {inner:?} px wide, not {width}"),
    )?;
    ensure(
        scroll <= inner,
        format!("the page is {scroll:?} px wide on a {inner:?} px screen"),
    )?;
    let png = page.screenshot().await?;
    let dir = artifacts_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(picture), &png)?;
    if std::env::var("TESSERA_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        let docs = support::browser::workspace_root().join("docs");
        std::fs::create_dir_all(&docs)?;
        std::fs::write(docs.join(picture), &png)?;
    }
    Ok(())
}

/// Two browsers log in as one user; from the first, "your sessions" revokes the second, then
/// "log out everywhere else" ends its next login. Cookie sessions refuse the page.
async fn sessions_page_revokes_the_other_browser(run: &mut Run) -> Outcome {
    let first = run.browser().await?;
    first.goto(&run.base).await?;
    log_in(&first, "lin").await?;
    let second = run.browser().await?;
    second.goto(&run.base).await?;
    log_in(&second, "lin").await?;
    first.goto(&format!("{}/sessions", run.base)).await?;
    if run.storage.url.is_some_and(|u| u.starts_with("cookie")) {
        let body = text(&first, "body").await?;
        return ensure(
            body.contains("cookie sessions"),
            format!("/sessions on cookie sessions reads {body:?}"),
        );
    }
    wait_for_text(&first, "#session-count", "2").await?;
    wait_for_text(&first, "tr.current td:last-child", "this session").await?;
    click(&first, "button.revoke").await?;
    wait_for_text(&first, "#session-count", "1").await?;
    second.refresh().await?;
    wait_for_text(&second, "#who", NOBODY).await?;

    log_in(&second, "lin").await?;
    first.goto(&format!("{}/sessions", run.base)).await?;
    wait_for_text(&first, "#session-count", "2").await?;
    click(&first, "#revoke-others").await?;
    wait_for_text(&first, "#session-count", "1").await?;
    second.refresh().await?;
    wait_for_text(&second, "#who", NOBODY).await?;
    first.goto(&run.base).await?;
    wait_for_text(&first, "#who", "lin").await
}
