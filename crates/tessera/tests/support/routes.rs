//! The routes the middleware tests share: `/put/{key}/{value}` writes a key, `/all` answers
//! every key as JSON. A test adds the routes of its own to them.

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use tessera::Session;

pub fn put_and_all() -> Router {
    Router::new()
        .route(
            "/put/{key}/{value}",
            get(
                |s: Session, Path((k, v)): Path<(String, String)>| async move {
                    s.insert(&k, v).unwrap();
                },
            ),
        )
        .route(
            "/all",
            get(|s: Session| async move { Json(s.data().as_ref().clone()) }),
        )
}
