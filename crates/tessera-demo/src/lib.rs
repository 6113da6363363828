//! The tessera demo: a counter, a login and a logout over whichever storage `SESSION_URL`
//! names. `cargo run -p tessera-demo` serves it on <http://127.0.0.1:3000>.
//!
//! [`load`] drives a running demo with many clients, each counting in its own session, and
//! records every count the demo acknowledged (the `demo-load` binary runs it from a shell).

use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;
use tessera::{Session, SessionLayer, ValueError};

pub mod load;

/// The longest user name `/login` accepts.
pub const MAX_USER_LEN: usize = 64;

/// The demo's routes behind `layer`.
pub fn app(layer: SessionLayer) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/counter", get(counter))
        .route("/count", get(count))
        .route("/login", post(login))
        .route("/whoami", get(whoami))
        .route("/logout", post(logout))
        .layer(layer)
}

async fn index(session: Session) -> Html<String> {
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
    let table = if rows.is_empty() {
        "<p>The session is empty: no cookie has been set.</p>".to_owned()
    } else {
        format!("<table><tr><th>key</th><th>value</th></tr>{rows}</table>")
    };
    Html(PAGE.replace("{{session}}", &table))
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
    // A new id at login defeats session fixation.
    session.cycle_id();
    session.insert("user", user)?;
    Ok(Json(json!({ "user": user })).into_response())
}

async fn whoami(session: Session) -> Json<serde_json::Value> {
    // A value another app stored under `user` that is not a string reads as no user.
    let user = session.get::<String>("user").unwrap_or(None);
    Json(json!({ "user": user }))
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
<title>tessera demo</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; line-height: 1.5; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; }
button { margin: .25rem .25rem .25rem 0; }
</style>
</head>
<body>
<h1>tessera demo</h1>
<h2>Session</h2>
{{session}}
<h2>Actions</h2>
<p>
<button onclick="act('GET', '/counter')">Count</button>
<input id="user" placeholder="user name" maxlength="64">
<button onclick="act('POST', '/login', {user: document.getElementById('user').value})">Log in</button>
<button onclick="act('POST', '/logout')">Log out</button>
<button onclick="act('GET', '/whoami')">Who am I?</button>
</p>
<pre id="out"></pre>
<script>
async function act(method, path, body) {
  const init = { method, headers: {} };
  if (body) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
  const res = await fetch(path, init);
  const text = await res.text();
  if (path === '/whoami') { document.getElementById('out').textContent = text; }
  else { location.reload(); }
}
</script>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
