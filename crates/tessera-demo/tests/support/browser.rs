//! Headless Chromium driven through chromedriver: each [`Chromedriver`] is a process of its
//! own on a free loopback port, and each [`Chromedriver::browser`] a new WebDriver session
//! with a new, empty profile directory, so no two browsers ever share a cookie jar.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use super::free_port;

/// What the checks return: a failure says what was expected and what the page showed.
pub type Outcome<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// The flags Chromium needs as root on a machine whose network ends at loopback: without the
/// background-networking ones it keeps dialling Google's hosts and logging refusals.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// How long a page gets to show what a check waits for.
const PATIENCE: Duration = Duration::from_secs(10);

/// Where the screenshots of failures (and the page's own screenshots) go:
/// `target/test-artifacts/browser` under the workspace root.
pub fn artifacts_dir() -> PathBuf {
    workspace_root().join("target/test-artifacts/browser")
}

/// The workspace's root directory, two up from this crate's.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).unwrap_or(manifest).to_owned()
}

/// A fresh directory under the system's temporary one, named after `what`.
pub fn temp_dir(what: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("tessera-browser-{what}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `name` on `PATH`, or the path in the environment variable `var` when set.
fn program(var: &str, name: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(var).map(PathBuf::from) {
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{var}={} is not a file", path.display()))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            format!("`{name}` is not on PATH (set {var}, or run scripts/services/chromium.sh)")
        })
}

/// A browser's viewport, in CSS pixels.
#[derive(Debug, Clone, Copy)]
pub enum Screen {
    /// A desktop window.
    Desktop { width: u32, height: u32 },
    /// A phone's screen (twice as many device pixels).
    Phone { width: u32, height: u32 },
}

impl Screen {
    /// The viewport's width.
    pub fn width(self) -> u32 {
        match self {
            Self::Desktop { width, .. } | Self::Phone { width, .. } => width,
        }
    }
}

/// A chromedriver process and the Chromium binary it starts; killed, with every browser it
/// started, when dropped.
pub struct Chromedriver {
    child: Child,
    url: String,
    chromium: PathBuf,
    profiles: Vec<PathBuf>,
}

impl Chromedriver {
    /// Starts chromedriver, or `None` after a loud message when Chromium or chromedriver is not
    /// installed (a failure instead with `TESSERA_REQUIRE_SERVICES=1`).
    pub async fn start() -> Option<Self> {
        let programs = program("TESSERA_CHROMIUM", "chromium")
            .and_then(|chromium| Ok((chromium, program("TESSERA_CHROMEDRIVER", "chromedriver")?)));
        let (chromium, driver) = tessera::conformance::server_or_skip(
            "a browser (Chromium and chromedriver; scripts/services/chromium.sh installs them)",
            programs,
        )?;
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that dropping it also ends the browsers it started,
            // even when a test panics before closing them.
            .process_group(0)
            .spawn()
            .unwrap();
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            chromium,
            profiles: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = async {
                let status: Value = reqwest::get(format!("{}/status", driver.url))
                    .await?
                    .json()
                    .await?;
                Ok::<_, reqwest::Error>(status["value"]["ready"] == json!(true))
            };
            if ready.await.unwrap_or(false) {
                return Some(driver);
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new headless browser with a new, empty profile, its viewport `screen`.
    pub async fn browser(&mut self, screen: Screen) -> Outcome<Client> {
        let profile = temp_dir("profile");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|&f| f.to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        self.profiles.push(profile);
        let mut options = json!({ "binary": self.chromium });
        match screen {
            Screen::Desktop { width, height } => {
                args.push(format!("--window-size={width},{height}"));
            }
            // Headless windows are at least 500 px wide; a phone's narrower viewport takes
            // ChromeDriver's device emulation.
            Screen::Phone { width, height } => {
                options["mobileEmulation"] = json!({
                    "deviceMetrics": {
                        "width": width, "height": height, "pixelRatio": 2,
                        "mobile": true, "touch": true,
                    },
                });
            }
        }
        options["args"] = json!(args);
        let capabilities = json!({ "browserName": "chrome", "goog:chromeOptions": options });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await?;
        Ok(client)
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The group chromedriver leads holds the browsers too; kill them all by its id.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        for profile in &self.profiles {
            let _ = std::fs::remove_dir_all(profile);
        }
    }
}

/// The text of the element `css` selects.
pub async fn text(client: &Client, css: &str) -> Outcome<String> {
    Ok(client.find(Locator::Css(css)).await?.text().await?)
}

/// Waits until the element `css` selects reads `expected`, across the reloads the page's
/// buttons cause.
pub async fn wait_for_text(client: &Client, css: &str, expected: &str) -> Outcome {
    let deadline = Instant::now() + PATIENCE;
    loop {
        // A reload in progress makes the element stale or absent: ask again.
        let seen = text(client, css).await;
        match seen {
            Ok(seen) if seen == expected => return Ok(()),
            _ if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(seen) => {
                return Err(format!("{css} reads {seen:?}, expected {expected:?}").into());
            }
            Err(error) => return Err(format!("{css} not found: {error}").into()),
        }
    }
}

/// Clicks the element `css` selects.
pub async fn click(client: &Client, css: &str) -> Outcome {
    client.find(Locator::Css(css)).await?.click().await?;
    Ok(())
}

/// Types `text` into the element `css` selects.
pub async fn type_into(client: &Client, css: &str, text: &str) -> Outcome {
    let input = client.find(Locator::Css(css)).await?;
    input.clear().await?;
    input.send_keys(text).await?;
    Ok(())
}

/// Fails with `message` unless `condition` holds.
pub fn ensure(condition: bool, message: impl Into<String>) -> Outcome {
    if condition {
        Ok(())
    } else {
        Err(message.into().into())
    }
}
