//! The tessera demo: a counter, a login and a logout over whichever storage `SESSION_URL`
//! names. `cargo run -p tessera-demo` serves it on <http://127.0.0.1:3000>.
//!
//! [`load`] drives a running demo with many clients, each counting in its own session, and
//! records every count the demo acknowledged (the `demo-load` binary runs it from a shell).

use std::sync::Arc;

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;
use tessera::{Session, SessionLayer, ValueError};

pub mod load;
mod sessions;

/// The longest user name `/login` accepts.
pub const MAX_USER_LEN: usize = 64;

/// What the page says about the demo's setup, beyond the session itself.
#[derive(Debug, Clone, Default)]
pub struct PageInfo {
    storage: Option<String>,
}

impl PageInfo {
    /// The page names the storage `SESSION_URL` chose (see [`storage_label`]).
    pub fn for_url(url: &str) -> Self {
        Self {
            storage: Some(storage_label(url)),
        }
    }

    /// Adds the cache store `SESSION_CACHE_URL` put in front of the storage, if any.
    #[must_use]
    pub fn with_cache_url(mut self, cache_url: Option<&str>) -> Self {
        if let (Some(storage), Some(cache)) = (&mut self.storage, cache_url) {
            storage.push_str(&format!(", cached in {}", storage_label(cache)));
        }
        self
    }
}

/// The demo's routes behind `layer`; the page does not name the storage.
pub fn app(layer: SessionLayer) -> Router {
    app_with(layer, PageInfo::default())
}

/// The demo's routes behind `layer`, the page showing `info`.
pub fn app_with(layer: SessionLayer, info: PageInfo) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/counter", get(counter))
        .route("/count", get(count))
        .route("/login", post(login))
        .route("/whoami", get(whoami))
        .route("/logout", post(logout))
        .route("/sessions", get(sessions::page))
        .route("/sessions/revoke-others", post(sessions::revoke_others))
        .route("/sessions/{handle}/revoke", post(sessions::revoke))
        .layer(layer)
        .with_state(Arc::new(info))
}

/// A reader's name for the store a `SESSION_URL` names, with any credentials and query
/// parameters left out: `SQLite (tessera-demo.db)`, `Redis (redis://***@host:6379/0)`,
/// `signed cookie`.
pub fn storage_label(url: &str) -> String {
    let (scheme, rest) = url.split_once(':').unwrap_or((url, ""));
    // Query parameters may carry options with secrets in them (a TLS key's passphrase…), and the
    // page needs none of them to tell the reader where sessions live.
    let bare = url.split(['?', '#']).next().unwrap_or(url);
    let server = |name: &str| format!("{name} ({})", redacted(bare));
    match scheme {
        "cookie" | "cookie+signed" => "signed cookie".to_owned(),
        "cookie+encrypted" => "encrypted cookie".to_owned(),
        "memory" => "memory (this process)".to_owned(),
        "sqlite" => {
            let path = rest.split(['?', '#']).next().unwrap_or_default();
            match path.strip_prefix("//").unwrap_or(path) {
                ":memory:" | "" => "SQLite (in memory)".to_owned(),
                path => format!("SQLite ({path})"),
            }
        }
        "file" => {
            let path = rest.split(['?', '#']).next().unwrap_or_default();
            format!("files ({})", path.strip_prefix("//").unwrap_or(path))
        }
        "redis" | "rediss" => server("Redis"),
        "redis+cluster" => server("Redis Cluster"),
        "memcached" => server("memcached"),
        "postgres" | "postgresql" => server("PostgreSQL"),
        "mysql" => server("MySQL"),
        "mariadb" => server("MariaDB"),
        "mongodb" | "mongodb+srv" => server("MongoDB"),
        _ => redacted(bare),
    }
}

/// `url` with its user and password, if any, replaced by `***`. The credentials end at the
/// authority's last `@` (a password may hold one), and the authority at the first `/`.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{path}"),
        None => url.to_owned(),
    }
}

async fn index(State(info): State<Arc<PageInfo>>, session: Session) -> Html<String> {
    let user = session.user();
    let empty = session.is_empty() && user.is_none();
    let count = session.get::<u64>("count").unwrap_or(None);
    let who = match &user {
        Some(user) => format!("<strong>{}</strong>", escape(user)),
        None => "<span class=\"muted\">nobody (not logged in)</span>".to_owned(),
    };
    let count = match count {
        Some(n) => n.to_string(),
        None => "<span class=\"muted\">none yet</span>".to_owned(),
    };
    // Nothing is stored for an empty session, so it has no expiry to speak of.
    let expiry = if empty {
        "<span class=\"muted\">nothing stored yet</span>".to_owned()
    } else if session.expires_at_browser_close() {
        "when the browser closes".to_owned()
    } else {
        format!(
            "{} <span class=\"muted\">({})</span>",
            escape(&relative(session.expiry_age())),
            escape(&utc_date(session.expiry_date())),
        )
    };
    let contents = if empty {
        "<p class=\"muted\">The session is empty: no cookie has been set.</p>".to_owned()
    } else {
        let rows: String = session
            .items()
            .iter()
            .map(|(k, v)| {
                format!(
                    "<tr><td>{}</td><td><code>{}</code></td></tr>",
                    escape(k),
                    escape(&v.to_string())
                )
            })
            .collect();
        format!("<table><tr><th>key</th><th>value</th></tr>{rows}</table>")
    };
    let storage = match &info.storage {
        Some(storage) => escape(storage),
        None => "<span class=\"muted\">not given</span>".to_owned(),
    };
    Html(
        PAGE.replace("{{who}}", &who)
            .replace("{{count}}", &count)
            .replace("{{expiry}}", &expiry)
            .replace("{{storage}}", &storage)
            .replace("{{contents}}", &contents),
    )
}

/// `age` the way a person says it, to the nearest unit: "in 31 days", "in 5 hours".
fn relative(age: time::Duration) -> String {
    // Rounded, not truncated: a 31-day session read back a second after it was saved is
    // still "in 31 days".
    let unit = |s: i64, size: i64, one: &str| match (s + size / 2) / size {
        1 => format!("in 1 {one}"),
        n => format!("in {n} {one}s"),
    };
    match age.whole_seconds() {
        s if s <= 0 => "now".to_owned(),
        s if s < 45 => unit(s, 1, "second"),
        s if s < 45 * 60 => unit(s, 60, "minute"),
        s if s < 36 * 3_600 => unit(s, 3_600, "hour"),
        s => unit(s, 86_400, "day"),
    }
}

/// `at` in UTC to the minute: `2026-12-03 11:26 UTC`.
fn utc_date(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

async fn counter(session: Session) -> Result<Json<serde_json::Value>, ValueError> {
    // Read-modify-write: if another request saves the session first, the increment is applied
    // again to its count, so concurrent requests never lose one.
    let count = session.update("count", |n: Option<u64>| n.unwrap_or(0) + 1)?;
    Ok(Json(json!({ "count": count })))
}

async fn count(session: Session) -> Json<serde_json::Value> {
    // Read-only: what `/counter` last stored, for a client that checks it without adding one.
    let count = session.get::<u64>("count").unwrap_or(None);
    Json(json!({ "count": count }))
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

/// Accepts `user` as a form field or a JSON field.
struct LoginForm(Login);

impl<S: Send + Sync> FromRequest<S> for LoginForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let login = if json {
            Json::<Login>::from_request(req, state)
                .await
                .map_err(IntoResponse::into_response)?
                .0
        } else {
            Form::<Login>::from_request(req, state)
                .await
                .map_err(IntoResponse::into_response)?
                .0
        };
        Ok(Self(login))
    }
}

async fn login(session: Session, LoginForm(login): LoginForm) -> Result<Response, ValueError> {
    let user = login.user.trim();
    if user.is_empty() || user.chars().count() > MAX_USER_LEN {
        let message = format!("`user` must be 1 to {MAX_USER_LEN} characters");
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": message })),
        )
            .into_response());
    }
    // A new id at login defeats session fixation; the user names whose session it is, for
    // the "your sessions" page and "log out everywhere".
    session.cycle_id();
    session.set_user(user);
    Ok(Json(json!({ "user": user })).into_response())
}

async fn whoami(session: Session) -> Json<serde_json::Value> {
    Json(json!({ "user": session.user() }))
}

async fn logout(session: Session) -> Json<serde_json::Value> {
    session.flush();
    Json(json!({ "user": null }))
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tessera demo</title>
<style>
:root { color-scheme: light dark; --line: #8884; --muted: #777; }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .35rem 1rem; margin: 0; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
td, th { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th:first-child { width: 30%; }
.muted { color: var(--muted); }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; margin: 0; }
.actions input { flex: 1 1 10rem; min-width: 0; }
form.actions { margin-bottom: .5rem; }
input, button { font: inherit; padding: .45rem .8rem; border-radius: .4rem; border: 1px solid var(--line); }
button { cursor: pointer; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: .75rem 0 0; }
</style>
</head>
<body>
<h1>tessera demo</h1>
<dl>
<dt>User</dt><dd id="who">{{who}}</dd>
<dt>Count</dt><dd id="count">{{count}}</dd>
<dt>Expires</dt><dd id="expiry">{{expiry}}</dd>
<dt>Storage</dt><dd id="storage">{{storage}}</dd>
</dl>
<h2>Session contents</h2>
<div id="contents">{{contents}}</div>
<h2>Actions</h2>
<form class="actions" id="login-form" onsubmit="event.preventDefault(); act('POST', '/login', {user: this.user.value})">
<input id="user" name="user" placeholder="user name" maxlength="64" autocomplete="username">
<button id="login">Log in</button>
</form>
<p class="actions">
<button type="button" id="count-button" onclick="act('GET', '/counter')">Count</button>
<button type="button" id="logout" onclick="act('POST', '/logout')">Log out</button>
<button type="button" id="whoami" onclick="act('GET', '/whoami')">Who am I?</button>
<a id="sessions-link" href="/sessions">Your sessions</a>
</p>
<pre id="out"></pre>
<script>
// Every action but "Who am I?" changes the session: reload to show it as the server has it.
async function act(method, path, body) {
  const init = { method, headers: {} };
  if (body) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
  const out = document.getElementById('out');
  try {
    const res = await fetch(path, init);
    const text = await res.text();
    if (!res.ok) { out.textContent = res.status + ' ' + text; }
    else if (path === '/whoami') { out.textContent = text; }
    else { location.reload(); }
  } catch (e) { out.textContent = String(e); }
}
</script>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::{escape, relative, storage_label, utc_date};

    #[test]
    fn credentials_never_show() {
        for (url, shown) in [
            ("redis://user:pw@host:6379/0", "redis://***@host:6379/0"),
            ("postgres://app:p@ss@db/app", "postgres://***@db/app"),
            ("redis://host:6379", "redis://host:6379"),
            ("mongodb://u:p@h/db?x=a@b", "mongodb://***@h/db?x=a@b"),
            ("sqlite://sessions.db", "sqlite://sessions.db"),
        ] {
            assert_eq!(super::redacted(url), shown, "{url}");
        }
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn names_the_storage_without_secrets() {
        assert_eq!(
            storage_label("sqlite://tessera-demo.db"),
            "SQLite (tessera-demo.db)"
        );
        assert_eq!(storage_label("sqlite::memory:"), "SQLite (in memory)");
        assert_eq!(storage_label("cookie"), "signed cookie");
        assert_eq!(storage_label("cookie+encrypted"), "encrypted cookie");
        assert_eq!(
            storage_label("redis://user:hunter2@cache:6379/0"),
            "Redis (redis://***@cache:6379/0)"
        );
        assert_eq!(
            storage_label("postgres://u:pw@db/app?sslpassword=x"),
            "PostgreSQL (postgres://***@db/app)"
        );
    }

    #[test]
    fn says_expiry_as_people_do() {
        assert_eq!(relative(time::Duration::days(31)), "in 31 days");
        assert_eq!(relative(time::Duration::hours(1)), "in 1 hour");
        assert_eq!(relative(time::Duration::seconds(90)), "in 2 minutes");
        assert_eq!(
            relative(time::Duration::days(31) - time::Duration::seconds(2)),
            "in 31 days"
        );
        assert_eq!(
            utc_date(time::macros::datetime!(2026-12-03 11:26:59 +01:00)),
            "2026-12-03 10:26 UTC"
        );
    }
}
