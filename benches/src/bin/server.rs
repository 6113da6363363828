//! One benchmark server: `server <framework> <store> <port>`.
//!
//! Every framework serves the same four routes with the same work, so the only difference
//! between two servers is the session layer:
//!
//! - `GET /read`   reads one key of an existing session (scenario a);
//! - `GET /update` reads a counter and writes it back plus one (scenario b);
//! - `GET /create` starts a session holding a user name and `BENCH_PAYLOAD` bytes (scenario c);
//! - `GET /none`   never touches the session (scenario d);
//! - `GET /incr`   increments `count` in the session and returns the new value (the hot-session
//!   scenario: many connections on one session);
//! - `GET /count`  returns the stored `count` without changing it (0 if absent);
//! - `GET /quit`   exits, so that callgrind writes its profile.
//!
//! Frameworks: `axum` and `actix` (no sessions), `tessera`, `tower-sessions`, `actix-session`
//! (the raw frameworks serve no `/incr` or `/count`: they have no session to count in).
//! One worker thread each, so that servers are compared core for core.
//!
//! Each session framework's handlers are written as its users write them: tessera's with its
//! read-modify-write `update` and `?` on every session call, tower-sessions' and
//! actix-session's with get-then-insert (what they offer), their errors answered with a `500`.

use std::net::SocketAddr;

const SECRET: &[u8; 64] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn payload() -> String {
    let n: usize = std::env::var("BENCH_PAYLOAD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    "x".repeat(n)
}

fn redis_url() -> String {
    std::env::var("BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/9".into())
}

fn postgres_url() -> String {
    std::env::var("BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/tessera_bench".into())
}

fn sqlite_path(framework: &str) -> String {
    let dir = std::env::var("BENCH_SQLITE_DIR").unwrap_or_else(|_| "/tmp".into());
    format!("{dir}/{framework}.sqlite")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: server <axum|actix|tessera|tower-sessions|actix-session> <store> <port>");
        std::process::exit(2);
    }
    let (framework, store) = (args[1].as_str(), args[2].as_str());
    let port: u16 = args[3].parse().expect("port");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    match framework {
        "axum" | "axum-layered" | "tessera" | "tower-sessions" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(axum_servers::serve(framework, store, addr));
        }
        "actix" | "actix-session" => {
            actix_web::rt::System::new().block_on(actix_servers::serve(framework, store, addr));
        }
        other => {
            eprintln!("unknown framework {other}");
            std::process::exit(2);
        }
    }
}

fn quit() -> &'static str {
    // Exit from a task so the response need not be flushed: the client stops reading at /quit.
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::process::exit(0)
    });
    "bye"
}

mod axum_servers {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tower_layer::Layer as _;

    /// Session layers wrap the whole router (`layer.layer(router)`), as actix-web's `App::wrap`
    /// wraps the whole app: `Router::layer` would add axum's own cost of one layer level to
    /// every session layer alike (the `axum-layered` reference row measures it).
    pub(crate) async fn serve(framework: &str, store: &str, addr: SocketAddr) {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let quit_route = |router: Router| router.route("/quit", get(|| async { quit() }));
        match framework {
            "axum" => serve_app(listener, quit_route(raw())).await,
            // The raw handlers behind `Router::layer` with a layer that does nothing: what one
            // such level costs in axum itself (an extra boxed route and future per request).
            "axum-layered" => {
                serve_app(
                    listener,
                    quit_route(raw().layer(tower_layer::Identity::new())),
                )
                .await
            }
            "tessera" => {
                let (routes, layer) = tessera_app(store).await;
                serve_app(listener, layer.layer(quit_route(routes))).await
            }
            "tower-sessions" => tower_app(store, listener, quit_route).await,
            _ => unreachable!(),
        }
    }

    async fn serve_app<S>(listener: tokio::net::TcpListener, app: S)
    where
        S: tower_service::Service<
                axum::extract::Request,
                Response = axum::response::Response,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + 'static,
        S::Future: Send,
    {
        use axum::ServiceExt as _;
        axum::serve(listener, app.into_make_service())
            .await
            .expect("serve");
    }

    fn raw() -> Router {
        Router::new()
            .route("/read", get(|| async { "ada".to_owned() }))
            .route("/update", get(|| async { "ok" }))
            .route("/create", get(|| async { "created" }))
            .route("/none", get(|| async { "none" }))
    }

    async fn tessera_app(store: &str) -> (Router, tessera::SessionLayer) {
        use tessera::store::OpenOptions;
        use tessera::{Session, SessionConfig, SessionLayer, Storage, ValueError};

        // `<store>-unsigned`: the id cookie carries the bare id, as tower-sessions' does.
        let (store, sign_id) = match store.strip_suffix("-unsigned") {
            Some(store) => (store, false),
            None => (store, true),
        };
        let url = match store {
            "cookie-signed" => "cookie".to_owned(),
            "cookie-encrypted" => "cookie+encrypted".to_owned(),
            "memory" => "memory://?capacity=2000000".to_owned(),
            "redis" => redis_url(),
            "postgres" => postgres_url(),
            "sqlite" => format!("sqlite://{}?mode=rwc", sqlite_path("tessera")),
            other => panic!("tessera has no store {other} here"),
        };
        let storage = Storage::open(&url, &OpenOptions::default())
            .await
            .expect("open the tessera store");
        let config = SessionConfig::builder()
            .secret_key(SECRET)
            .secure(false)
            .sign_id(sign_id)
            .build()
            .expect("config");
        let layer = SessionLayer::new(storage, config).expect("layer");
        let payload = payload();
        let routes = Router::new()
            .route(
                "/read",
                get(|s: Session| async move { s.get_or_default::<String>("user") }),
            )
            .route(
                "/update",
                get(|s: Session| async move {
                    s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1)?;
                    Ok::<_, ValueError>("ok")
                }),
            )
            .route(
                "/create",
                get(move |s: Session| {
                    let payload = payload.clone();
                    async move {
                        s.insert("user", "ada")?;
                        s.insert("blob", payload)?;
                        Ok::<_, ValueError>("created")
                    }
                }),
            )
            .route("/none", get(|| async { "none" }))
            .route(
                "/incr",
                get(|s: Session| async move {
                    let n = s.update("count", |n: Option<u64>| n.unwrap_or(0) + 1)?;
                    Ok::<_, ValueError>(n.to_string())
                }),
            )
            .route(
                "/count",
                get(|s: Session| async move {
                    Ok::<_, ValueError>(s.get_or_default::<u64>("count")?.to_string())
                }),
            );
        (routes, layer)
    }

    async fn tower_app(
        store: &str,
        listener: tokio::net::TcpListener,
        quit_route: impl Fn(Router) -> Router,
    ) {
        use axum::http::StatusCode;
        use tower_sessions::{Session, SessionManagerLayer, SessionStore};

        // tower-sessions' errors are no responses: a failed session call is a 500.
        fn failed(error: tower_sessions::session::Error) -> StatusCode {
            eprintln!("session error: {error}");
            StatusCode::INTERNAL_SERVER_ERROR
        }

        fn routes() -> Router {
            let payload = payload();
            Router::new()
                .route(
                    "/read",
                    get(|s: Session| async move {
                        let user: Option<String> = s.get("user").await.map_err(failed)?;
                        Ok::<_, StatusCode>(user.unwrap_or_default())
                    }),
                )
                .route(
                    "/update",
                    get(|s: Session| async move {
                        let n: u64 = s.get("n").await.map_err(failed)?.unwrap_or(0);
                        s.insert("n", n + 1).await.map_err(failed)?;
                        Ok::<_, StatusCode>("ok")
                    }),
                )
                .route(
                    "/create",
                    get(move |s: Session| {
                        let payload = payload.clone();
                        async move {
                            s.insert("user", "ada").await.map_err(failed)?;
                            s.insert("blob", payload).await.map_err(failed)?;
                            Ok::<_, StatusCode>("created")
                        }
                    }),
                )
                .route("/none", get(|| async { "none" }))
                .route(
                    "/incr",
                    get(|s: Session| async move {
                        let n: u64 = s.get("count").await.map_err(failed)?.unwrap_or(0);
                        s.insert("count", n + 1).await.map_err(failed)?;
                        Ok::<_, StatusCode>((n + 1).to_string())
                    }),
                )
                .route(
                    "/count",
                    get(|s: Session| async move {
                        let n: Option<u64> = s.get("count").await.map_err(failed)?;
                        Ok::<_, StatusCode>(n.unwrap_or(0).to_string())
                    }),
                )
        }
        let app = quit_route(routes());
        async fn serve_with<S: SessionStore + Clone>(
            listener: tokio::net::TcpListener,
            app: Router,
            store: S,
        ) {
            let layer = SessionManagerLayer::new(store).with_secure(false);
            serve_app(listener, layer.layer(app)).await
        }

        match store {
            "memory" => serve_with(listener, app, tower_sessions::MemoryStore::default()).await,
            "redis" => {
                use tower_sessions_redis_store::fred::prelude::*;
                let config = Config::from_url(&redis_url()).expect("redis url");
                let pool = Pool::new(config, None, None, None, 1).expect("fred pool");
                pool.init().await.expect("connect to redis");
                serve_with(
                    listener,
                    app,
                    tower_sessions_redis_store::RedisStore::new(pool),
                )
                .await
            }
            "postgres" => {
                let pool = tower_sessions_sqlx_store::sqlx::PgPool::connect(&postgres_url())
                    .await
                    .expect("connect to postgres");
                let store = tower_sessions_sqlx_store::PostgresStore::new(pool);
                store.migrate().await.expect("migrate");
                serve_with(listener, app, store).await
            }
            "sqlite" => {
                let url = format!("sqlite://{}?mode=rwc", sqlite_path("tower-sessions"));
                let pool = tower_sessions_sqlx_store::sqlx::SqlitePool::connect(&url)
                    .await
                    .expect("open sqlite");
                let store = tower_sessions_sqlx_store::SqliteStore::new(pool);
                store.migrate().await.expect("migrate");
                serve_with(listener, app, store).await
            }
            other => panic!("tower-sessions has no store {other} here"),
        }
    }
}

mod actix_servers {
    use super::*;
    use actix_session::config::CookieContentSecurity;
    use actix_session::storage::{CookieSessionStore, RedisSessionStore};
    use actix_session::{Session, SessionMiddleware};
    use actix_web::cookie::Key;
    use actix_web::{web, App, HttpServer};

    // actix-session's errors are responses (500): `?` turns them into `actix_web::Error`.
    async fn read(s: Session) -> actix_web::Result<String> {
        Ok(s.get::<String>("user")?.unwrap_or_default())
    }

    async fn update(s: Session) -> actix_web::Result<&'static str> {
        let n: u64 = s.get("n")?.unwrap_or(0);
        s.insert("n", n + 1)?;
        Ok("ok")
    }

    async fn create(s: Session, payload: web::Data<String>) -> actix_web::Result<&'static str> {
        s.insert("user", "ada")?;
        s.insert("blob", payload.get_ref())?;
        Ok("created")
    }

    async fn incr(s: Session) -> actix_web::Result<String> {
        let n: u64 = s.get("count")?.unwrap_or(0);
        s.insert("count", n + 1)?;
        Ok((n + 1).to_string())
    }

    async fn count(s: Session) -> actix_web::Result<String> {
        Ok(s.get::<u64>("count")?.unwrap_or(0).to_string())
    }

    async fn none() -> &'static str {
        "none"
    }

    async fn quit_route() -> &'static str {
        quit()
    }

    pub(crate) async fn serve(framework: &str, store: &str, addr: SocketAddr) {
        let key = Key::from(SECRET);
        let payload = web::Data::new(payload());
        let server = match (framework, store) {
            ("actix", _) => HttpServer::new(|| {
                App::new()
                    .route("/read", web::get().to(|| async { "ada".to_owned() }))
                    .route("/update", web::get().to(|| async { "ok" }))
                    .route("/create", web::get().to(|| async { "created" }))
                    .route("/none", web::get().to(none))
                    .route("/quit", web::get().to(quit_route))
            })
            .workers(1)
            .bind(addr)
            .expect("bind")
            .run(),
            ("actix-session", "cookie-signed" | "cookie-encrypted") => {
                let security = if store == "cookie-signed" {
                    CookieContentSecurity::Signed
                } else {
                    CookieContentSecurity::Private
                };
                HttpServer::new(move || {
                    App::new()
                        .app_data(payload.clone())
                        .wrap(
                            SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                                .cookie_secure(false)
                                .cookie_content_security(security)
                                .build(),
                        )
                        .route("/read", web::get().to(read))
                        .route("/update", web::get().to(update))
                        .route("/create", web::get().to(create))
                        .route("/none", web::get().to(none))
                        .route("/incr", web::get().to(incr))
                        .route("/count", web::get().to(count))
                        .route("/quit", web::get().to(quit_route))
                })
                .workers(1)
                .bind(addr)
                .expect("bind")
                .run()
            }
            ("actix-session", "redis") => {
                let store = RedisSessionStore::new(redis_url())
                    .await
                    .expect("connect to redis");
                HttpServer::new(move || {
                    App::new()
                        .app_data(payload.clone())
                        .wrap(
                            SessionMiddleware::builder(store.clone(), key.clone())
                                .cookie_secure(false)
                                .build(),
                        )
                        .route("/read", web::get().to(read))
                        .route("/update", web::get().to(update))
                        .route("/create", web::get().to(create))
                        .route("/none", web::get().to(none))
                        .route("/incr", web::get().to(incr))
                        .route("/count", web::get().to(count))
                        .route("/quit", web::get().to(quit_route))
                })
                .workers(1)
                .bind(addr)
                .expect("bind")
                .run()
            }
            (_, other) => panic!("actix-session has no store {other} here"),
        };
        server.await.expect("serve");
    }
}
