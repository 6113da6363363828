//! The demo's "your sessions" page: the logged-in user's sessions, the current one marked,
//! with a revoke button on each other one and "log out everywhere else".
//!
//! - `GET /sessions`: HTML, or `{"sessions": [{"handle", "current", "created", "last_seen",
//!   "user_agent"}]}` when the request asks for `application/json`;
//! - `POST /sessions/{handle}/revoke`: ends one of the user's sessions (`404` if the handle
//!   names none of them);
//! - `POST /sessions/revoke-others`: ends all the user's sessions but this one.
//!
//! Forms are answered with a redirect back to the page, JSON requests with JSON. Without a
//! logged-in user every route answers `401`.

use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use serde_json::json;
use tessera::id::SessionHandle;
use tessera::users::{UserSession, Users};
use tessera::Session;

use crate::{escape, utc_date};

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// What a failed per-user call answers: `501` where the storage keeps no index (cookie
/// sessions, memcached), else `503`.
fn failed(error: &tessera::store::Error) -> Response {
    let status = match error {
        tessera::store::Error::Unsupported { .. } => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    tracing::warn!(%error, "per-user session call failed");
    (status, Json(json!({ "error": error.to_string() }))).into_response()
}

fn not_logged_in() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": "log in first" })),
    )
        .into_response()
}

pub(crate) async fn page(session: Session, users: Users, headers: HeaderMap) -> Response {
    if session.user().is_none() {
        return not_logged_in();
    }
    let list = match users.sessions_of(&session).await {
        Ok(list) => list,
        Err(error) => return failed(&error),
    };
    if wants_json(&headers) {
        let sessions: Vec<_> = list
            .iter()
            .map(|s| {
                json!({
                    "handle": s.handle,
                    "current": s.current,
                    "created": s.created.map(time::OffsetDateTime::unix_timestamp),
                    "last_seen": s.last_seen.map(time::OffsetDateTime::unix_timestamp),
                    "user_agent": s.user_agent,
                })
            })
            .collect();
        return Json(json!({ "sessions": sessions })).into_response();
    }
    Html(render(&session.user().unwrap_or_default(), &list)).into_response()
}

pub(crate) async fn revoke(
    session: Session,
    users: Users,
    headers: HeaderMap,
    Path(handle): Path<String>,
) -> Response {
    let Some(user) = session.user() else {
        return not_logged_in();
    };
    let Ok(handle) = handle.parse::<SessionHandle>() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such session" })),
        )
            .into_response();
    };
    match users.revoke(&user, &handle).await {
        Ok(true) if wants_json(&headers) => Json(json!({ "revoked": 1 })).into_response(),
        Ok(true) => Redirect::to("/sessions").into_response(),
        Ok(false) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such session" })),
        )
            .into_response(),
        Err(error) => failed(&error),
    }
}

pub(crate) async fn revoke_others(session: Session, users: Users, headers: HeaderMap) -> Response {
    if session.user().is_none() {
        return not_logged_in();
    }
    match users.revoke_others(&session).await {
        Ok(n) if wants_json(&headers) => Json(json!({ "revoked": n })).into_response(),
        Ok(_) => Redirect::to("/sessions").into_response(),
        Err(error) => failed(&error),
    }
}

fn render(user: &str, list: &[UserSession]) -> String {
    let when = |t: Option<time::OffsetDateTime>| t.map_or_else(|| "—".to_owned(), utc_date);
    let rows: String = list
        .iter()
        .map(|s| {
            let device = match (&s.user_agent, &s.client) {
                (Some(agent), Some(client)) => format!("{} <span class=\"muted\">from {}</span>", escape(agent), escape(client)),
                (Some(agent), None) => escape(agent),
                (None, Some(client)) => format!("<span class=\"muted\">from {}</span>", escape(client)),
                (None, None) => "<span class=\"muted\">unknown device</span>".to_owned(),
            };
            let action = if s.current {
                "<strong>this session</strong>".to_owned()
            } else {
                format!(
                    "<form method=\"post\" action=\"/sessions/{h}/revoke\"><button class=\"revoke\" data-handle=\"{h}\">Revoke</button></form>",
                    h = escape(s.handle.as_str())
                )
            };
            format!(
                "<tr class=\"session{current}\" data-handle=\"{handle}\"><td>{device}</td><td>{created}</td><td>{seen}</td><td>{action}</td></tr>",
                current = if s.current { " current" } else { "" },
                handle = escape(s.handle.as_str()),
                created = escape(&when(s.created)),
                seen = escape(&when(s.last_seen)),
            )
        })
        .collect();
    SESSIONS_PAGE
        .replace("{{user}}", &escape(user))
        .replace("{{count}}", &list.len().to_string())
        .replace("{{rows}}", &rows)
}

const SESSIONS_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Your sessions · tessera demo</title>
<style>
:root { color-scheme: light dark; --line: #8884; --muted: #777; }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, sans-serif; max-width: 48rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
table { border-collapse: collapse; width: 100%; }
td, th { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
tr.current td { font-weight: 600; }
.muted { color: var(--muted); font-weight: normal; }
form { margin: 0; }
button { font: inherit; padding: .35rem .7rem; border-radius: .4rem; border: 1px solid var(--line); cursor: pointer; }
p.actions { margin: 1rem 0; display: flex; gap: .5rem; flex-wrap: wrap; }
</style>
</head>
<body>
<h1>Your sessions</h1>
<p><strong id="user">{{user}}</strong> has <span id="session-count">{{count}}</span> active sessions.</p>
<table id="sessions">
<tr><th>device</th><th>signed in</th><th>last seen</th><th></th></tr>
{{rows}}
</table>
<p class="actions">
<form method="post" action="/sessions/revoke-others"><button id="revoke-others">Log out everywhere else</button></form>
<a href="/">Back</a>
</p>
</body>
</html>
"#;
