//! The conformance suite against [`CachedStore`]: Redis (`TESSERA_REDIS_URL`) in front of
//! PostgreSQL (`TESSERA_POSTGRES_URL`), Django's `cached_db` layout. Each app server has its
//! own Redis connection and its own Postgres pool.
#![cfg(all(feature = "redis", feature = "postgres", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::sql::{self, postgres_url, DialectSql as _};
use support::{unique_name, Cleanup, Teardown, Tracked};
use tessera::clock::{ManualClock, SharedClock};
use tessera::conformance::{server_or_skip, Harness};
use tessera::store::cached::CachedStore;
use tessera::store::redis::RedisStore;
use tessera::store::sql::{Postgres, PostgresStore};
use tessera::store::OpenOptions;
use tessera::SessionId;

fn redis_url() -> String {
    std::env::var("TESSERA_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn postgres(
    table: &str,
    options: &OpenOptions,
) -> Result<PostgresStore, tessera::store::Error> {
    PostgresStore::builder(&postgres_url())?
        .options(options)
        .table(table)
        .build()
        .await
}

async fn harness() -> Option<Harness> {
    // Redis keeps real time; Postgres and the wrapper judge deadlines by this clock, which
    // starts now so Redis TTLs stay meaningful.
    let clock = ManualClock::starting_now();
    let shared: SharedClock = Arc::new(clock.clone());
    let prefix = format!("{}:", support::unique("tessera-test:"));
    let options = OpenOptions::default()
        .with_clock(shared.clone())
        .with_key_prefix(prefix.clone())
        .with_timeout(Duration::from_secs(5));
    let url = redis_url();
    let cache = server_or_skip(
        &format!("redis at {url}"),
        RedisStore::connect(&url, &options).await,
    )?;
    let table = unique_name("tessera_c");
    let db = server_or_skip(
        &format!("postgres at {}", postgres_url()),
        postgres(&table, &options).await,
    )?;
    let drop_table = {
        let statements = [table.clone(), sql::index_table(&table)]
            .map(|t| format!("DROP TABLE IF EXISTS \"{t}\""));
        let pool = db.pool().clone();
        Teardown::new(move || async move {
            for statement in &statements {
                let _ = sqlx::query(statement).execute(&pool).await;
            }
        })
    };
    let cache_peer = RedisStore::connect(&url, &options).await.unwrap();
    let db_peer = postgres(&table, &options).await.unwrap();
    let store = CachedStore::new(Arc::new(cache.clone()), Arc::new(db.clone()))
        .with_clock(shared.clone())
        .with_cache_timeout(Duration::from_secs(2));
    let peer = CachedStore::new(Arc::new(cache_peer), Arc::new(db_peer))
        .with_clock(shared)
        .with_cache_timeout(Duration::from_secs(2));
    let (pool, table) = (db.pool().clone(), db.table().to_owned());
    let corrupt = move |id: SessionId| {
        let (pool, _drop) = (pool.clone(), drop_table.clone());
        let statement = sql::corrupt_row::<Postgres>(&table, &format!("{prefix}{}", id.expose()));
        async move { Postgres::run_sql(&pool, &statement).await.unwrap() }
    };
    let cleanup = Cleanup::keeping(
        move |ids| {
            let keys: Vec<String> = ids.iter().map(|id| cache.key(id)).collect();
            support::redis_remover(&url, &keys);
        },
        None,
    );
    let harness = Tracked::harness(store, peer, &cleanup);
    Some(harness.with_clock(clock).with_corrupter(corrupt))
}

tessera::conformance_suite!(harness);
