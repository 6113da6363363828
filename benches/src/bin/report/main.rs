//! Turns the TSV files `benches/run` wrote into `BENCHMARKS.md`, an SVG bar chart of
//! requests/s and two SVG cost curves (against session size and against live sessions),
//! written beside the bar chart.
//!
//! `report <results dir> <markdown out> <svg out> <svg link from the markdown>`

mod curves;
mod svg;

use std::collections::BTreeMap;
use std::fmt::Write as _;

type Row = BTreeMap<String, String>;

fn read_tsv(dir: &str, name: &str) -> Vec<Row> {
    let Ok(text) = std::fs::read_to_string(format!("{dir}/{name}")) else {
        return Vec::new();
    };
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let names: Vec<&str> = header.split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            names
                .iter()
                .zip(l.split('\t'))
                .map(|(k, v)| ((*k).to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn num(row: &Row, key: &str) -> f64 {
    row.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

const SCENARIOS: [&str; 4] = ["read", "update", "create", "none"];
const SCENARIO_NAMES: [&str; 4] = [
    "(a) read-only",
    "(b) update one key",
    "(c) first visit",
    "(d) no session",
];
const PEERS: [&str; 2] = ["tower-sessions", "actix-session"];

/// Median requests/s, p50 µs, p99 µs, errors (summed) and the server's CPU µs per request,
/// per (framework, store, scenario).
type Rps = BTreeMap<(String, String, String), (f64, f64, f64, f64, f64)>;

fn raw_of(framework: &str) -> &'static str {
    if framework.starts_with("actix") {
        "actix"
    } else {
        "axum"
    }
}

fn fmt_n(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let s = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < 0.0 {
        format!("−{out}")
    } else {
        out
    }
}

fn fmt_r(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}×")
    } else {
        "–".into()
    }
}

/// (framework, store, scenario, payload) → instructions per request.
type Ir = BTreeMap<(String, String, String, String), f64>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, md_out, svg_out, svg_link) = (&args[1], &args[2], &args[3], &args[4]);
    let (size_out, size_link) = (
        beside(svg_out, "cost-by-session-size.svg"),
        beside(svg_link, "cost-by-session-size.svg"),
    );
    let (live_out, live_link) = (
        beside(svg_out, "cost-by-live-sessions.svg"),
        beside(svg_link, "cost-by-live-sessions.svg"),
    );
    let machine: Vec<(String, String)> = std::fs::read_to_string(format!("{dir}/machine.tsv"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    let m = |k: &str| {
        machine
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    };

    let mut ir: Ir = BTreeMap::new();
    let mut configs: Vec<(String, String)> = Vec::new();
    for r in read_tsv(dir, "callgrind.tsv") {
        let n = num(&r, "n");
        let per = (num(&r, "ir_2n") - num(&r, "ir_n")) / n;
        let key = (
            r["framework"].clone(),
            r["store"].clone(),
            r["scenario"].clone(),
            r["payload"].clone(),
        );
        if !configs.contains(&(key.0.clone(), key.1.clone())) && key.3 == "100" {
            configs.push((key.0.clone(), key.1.clone()));
        }
        ir.insert(key, per);
    }
    let get_ir = |f: &str, s: &str, sc: &str, p: &str| {
        ir.get(&(f.into(), s.into(), sc.into(), p.into()))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let layer = |f: &str, s: &str, sc: &str, p: &str| {
        get_ir(f, s, sc, p) - get_ir(raw_of(f), "none", sc, "100")
    };

    let mut rps: Rps = BTreeMap::new();
    {
        let mut rounds: BTreeMap<(String, String, String), Vec<Row>> = BTreeMap::new();
        for r in read_tsv(dir, "wrk.tsv") {
            rounds
                .entry((
                    r["framework"].clone(),
                    r["store"].clone(),
                    r["scenario"].clone(),
                ))
                .or_default()
                .push(r);
        }
        for (k, rows) in rounds {
            let med = |key: &str| median(rows.iter().map(|r| num(r, key)).collect());
            let errors: f64 = rows.iter().map(|r| num(r, "errors")).sum();
            rps.insert(
                k,
                (
                    med("rps"),
                    med("p50_us"),
                    med("p99_us"),
                    errors,
                    med("cpu_us"),
                ),
            );
        }
    }
    let get_rps = |f: &str, s: &str, sc: &str| {
        rps.get(&(f.into(), s.into(), sc.into()))
            .map(|v| v.0)
            .unwrap_or(f64::NAN)
    };
    let rel = |f: &str, s: &str, sc: &str| get_rps(f, s, sc) / get_rps(raw_of(f), "none", sc);
    let get_cpu = |f: &str, s: &str, sc: &str| {
        rps.get(&(f.into(), s.into(), sc.into()))
            .map(|v| v.4)
            .unwrap_or(f64::NAN)
    };
    // The session layer's CPU time per request: the server's minus its raw framework's.
    let layer_cpu = |f: &str, s: &str, sc: &str| get_cpu(f, s, sc) - get_cpu(raw_of(f), "none", sc);

    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# Benchmarks\n");
    let _ = writeln!(
        w,
        "Generated by `benches/run` on {} (commit {}). Do not edit by hand: run it again.\n",
        m("date"),
        m("commit")
    );
    let phases: Vec<String> = machine
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("phase:").map(|p| format!("{p} {v}")))
        .collect();
    if !phases.is_empty() {
        let _ = writeln!(w, "Measured: {}.\n", phases.join("; "));
    }
    let _ = writeln!(
        w,
        "tessera next to raw [axum] and [actix-web] with no sessions (the limits), [tower-sessions] \
         and [actix-session], serving the same handlers from the same stores on the same machine in \
         one run. axum_session is left out: this harness covers the peers the issue names first, \
         and it was not added in the time this run had.\n"
    );
    let _ = writeln!(w, "![requests/s per scenario and store]({svg_link})\n");
    let _ = writeln!(
        w,
        "[axum]: https://docs.rs/axum\n[actix-web]: https://docs.rs/actix-web\n\
         [tower-sessions]: https://docs.rs/tower-sessions\n[actix-session]: https://docs.rs/actix-session\n"
    );

    let _ = writeln!(w, "## Machine and versions\n");
    let _ = writeln!(w, "| | |\n|---|---|");
    for k in [
        "cpu", "cores", "memory", "kernel", "rustc", "wrk", "valgrind", "redis", "postgres",
    ] {
        let _ = writeln!(w, "| {k} | {} |", m(k));
    }
    for (k, v) in &machine {
        if let Some(name) = k.strip_prefix("crate:") {
            let _ = writeln!(
                w,
                "| `{name}` | {} |",
                if v.is_empty() { "path" } else { v }
            );
        }
    }

    let _ = writeln!(w, "\n## Method\n");
    let _ = writeln!(
        w,
        "- Handlers: `/read` reads one key of an existing session, `/update` reads a counter and \
         writes it back plus one, `/create` starts a session holding a user name and a 100-byte \
         value (scenario c, no cookie sent), `/none` never touches the session. The raw servers \
         return the same bodies with no session layer. Every server runs one worker thread \
         (a tokio current-thread runtime; actix-web with one worker).\n\
         - Defaults of each library otherwise, except cookies not marked `Secure` (plain HTTP on \
         loopback). tessera: permanent sessions, signed ids, no refresh on read; tower-sessions: \
         its default expiry; actix-session: its default browser-session policy. Redis database 9 \
         on 127.0.0.1:6379; PostgreSQL database `tessera_bench`; SQLite files under `benches/target`.\n\
         - Session layers wrap the whole axum router (`layer.layer(router)` served with \
         `into_make_service`), as actix-web's `App::wrap` wraps the whole app. Applied with \
         `Router::layer` instead, any layer also pays axum's own cost of one layer level (a \
         boxed route and future per request): the `axum-layered` row measures that level with a \
         layer that does nothing, so it can be added to any row.\n\
         - **Instructions per request**: each server runs under `valgrind --tool=callgrind`; the \
         client (`benches/src/bin/client.rs`, a blocking HTTP/1.1 loop outside valgrind) first \
         creates {seeds} sessions where the scenario needs one, then sends N requests one after \
         another on one keep-alive connection, rotating over those sessions; a second run sends \
         2N. (Ir(2N) − Ir(N)) / N, with N = {n}, so start-up, seeding and shutdown cancel out. \
         *Layer cost* is that figure minus the raw framework's for the same scenario (axum for \
         tessera and tower-sessions, actix-web for actix-session); it includes the store client \
         (redis, fred, sqlx) and, for update and create, serialising the session.\n\
         - **Requests/s**: `wrk -t1 -c{c}` pinned to CPU 1, the server pinned to CPU 0; 64 \
         sessions rotated by a Lua script; a 1 s warm-up, then {r} rounds of {s} s, medians kept. \
         *Server CPU µs/request* is the server process's user + system time over a round (from \
         `/proc/<pid>/stat`) divided by the requests wrk completed in it: wrk's own loopback \
         cost bounds requests/s and hides a difference of a microsecond or two, the CPU time \
         does not. *Layer CPU* is that minus the raw framework's. \
         On this shared 2-core machine absolute figures move between runs; ratios to the raw \
         framework measured minutes apart are steadier.\n\
         - **Round trips**: Redis `INFO commandstats` before and after N sequential requests \
         (commands per request; commands a Lua script runs are listed under their own names but \
         travel in the EVALSHA's round trip); PostgreSQL: transactions per request from \
         `pg_stat_database` (each statement outside a transaction is one; approximate, since \
         statistics are flushed asynchronously).\n\
         - **Hot session**: `client hot` (`benches/src/bin/client.rs`) pinned to CPU 1, the \
         server to CPU 0: one thread per connection, one keep-alive connection each, all \
         sending one session's cookie with `GET /incr` (add one to `count` in the session) for \
         a few seconds after a 1 s warm-up on the same session; every status and every latency \
         is recorded. \
         tessera's handler uses its read-modify-write `Session::update`; tower-sessions' and \
         actix-session's get the counter and insert it plus one, which is what they offer. A \
         200 is an acknowledged increment; `GET /count` reads the counter before and after the \
         run, and *lost* = acknowledged − (after − before). Other answers are counted by status \
         (tessera's `409 Conflict` refuses an increment, it does not lose one). Round trips as \
         above, divided by the acknowledged writes.\n",
        seeds = if m("n") == "20" { 8 } else { 32 },
        n = m("n"),
        c = m("connections"),
        r = m("rounds"),
        s = m("seconds"),
    );

    let _ = writeln!(
        w,
        "Caveats:\n\n\
         - Under valgrind, SHA-256 runs in sha2's portable code: valgrind does not emulate the \
         SHA-NI instructions the CPU has, so every HMAC-SHA256 (actix-session's signed cookies) \
         counts several times the instructions it takes natively. tessera signs with keyed \
         BLAKE3, which runs in its SSE4.1/AVX2 code under valgrind as natively: part of the gap \
         to actix-session's signed cookies in these figures is that emulation (natively, on this \
         machine, HMAC-SHA256 of a session id takes about 110 ns and keyed BLAKE3 about 80 ns). \
         tower-sessions does not sign its id cookie; the `tessera <store>-unsigned` rows are \
         tessera with `sign_id(false)`.\n\
         - requests/s share the machine with whatever else runs on it; a round taken while \
         another job runs is slower, so compare ratios within a phase and prefer the \
         instruction counts, which repeat to within a fraction of a percent for the memory, \
         cookie and Redis rows (a rebuild alone can move a row by a few hundred, as code \
         layout changes); PostgreSQL and SQLite rows move by several thousand between runs \
         (server-side state the client reacts to), so compare them only within one run.\n"
    );
    let load = m("load");
    if !load.is_empty() {
        let _ = writeln!(
            w,
            "- This run's machine load (1-minute load average on 2 cores, sampled while wrk \
             ran): {load}. Above 2, other jobs were competing with the server and wrk for the \
             CPU, so absolute requests/s are lower and ratios noisier than on a quiet machine; \
             the callgrind figures are unaffected.\n"
        );
    }

    // Instructions table.
    let _ = writeln!(w, "## Instructions per request (callgrind)\n");
    let _ = writeln!(
        w,
        "Whole server, per request; in brackets the session layer's own cost (minus the raw \
         framework).\n"
    );
    let _ = writeln!(
        w,
        "| framework | store | {} |\n|---|---|---:|---:|---:|---:|",
        SCENARIO_NAMES.join(" | ")
    );
    for (f, s) in &configs {
        let cells: Vec<String> = SCENARIOS
            .iter()
            .map(|sc| {
                let total = get_ir(f, s, sc, "100");
                if f == "axum" || f == "actix" {
                    fmt_n(total)
                } else {
                    format!("{} ({})", fmt_n(total), fmt_n(layer(f, s, sc, "100")))
                }
            })
            .collect();
        let _ = writeln!(w, "| {f} | {s} | {} |", cells.join(" | "));
    }

    // Targets.
    let _ = writeln!(w, "\n## Targets\n");
    let _ = writeln!(
        w,
        "| target | scenario | tessera | peer | ratio | met |\n|---|---|---:|---:|---:|:---:|"
    );
    let mut target_rows = Vec::new();
    for (peer, stores) in [
        ("tower-sessions", vec!["memory", "redis"]),
        (
            "actix-session",
            vec!["cookie-signed", "cookie-encrypted", "redis"],
        ),
    ] {
        // The `-unsigned` rows: tessera sending a bare id, as tower-sessions does.
        let unsigned: Vec<String> = stores
            .iter()
            .filter(|s| peer == "tower-sessions" && !s.starts_with("cookie"))
            .map(|s| format!("{s}-unsigned"))
            .collect();
        for store in stores
            .iter()
            .copied()
            .chain(unsigned.iter().map(String::as_str))
        {
            let peer_store = store.strip_suffix("-unsigned").unwrap_or(store);
            for sc in SCENARIOS {
                if sc == "none" {
                    continue;
                }
                let t = layer("tessera", store, sc, "100");
                let p = layer(peer, peer_store, sc, "100");
                if !t.is_finite() {
                    continue;
                }
                let ratio = t / p;
                target_rows.push(format!(
                    "| layer instructions ≤ ½ {peer}, {store} | {sc} | {} | {} | {} | {} |",
                    fmt_n(t),
                    fmt_n(p),
                    fmt_r(ratio),
                    if ratio <= 0.5 { "yes" } else { "**no**" }
                ));
            }
        }
    }
    for store in [
        "cookie-signed",
        "cookie-encrypted",
        "memory",
        "redis",
        "postgres",
        "sqlite",
    ] {
        let t = layer("tessera", store, "none", "100");
        target_rows.push(format!(
            "| layer instructions < 500 when the session is never touched, {store} | none | {} | – | – | {} |",
            fmt_n(t),
            if t < 500.0 { "yes" } else { "**no**" }
        ));
    }
    let axum_layer = layer("axum-layered", "none", "none", "100");
    if axum_layer.is_finite() {
        target_rows.push(format!(
            "| (reference, not a target) axum's own cost of one `Router::layer` level: raw handlers behind a no-op layer | none | {} | – | – | – |",
            fmt_n(axum_layer)
        ));
    }
    for store in ["cookie-signed", "cookie-encrypted", "memory"] {
        let r = rel("tessera", store, "read");
        target_rows.push(format!(
            "| requests/s ≥ 0.95× raw axum, {store} | read | {} | {} | {} | {} |",
            fmt_n(get_rps("tessera", store, "read")),
            fmt_n(get_rps("axum", "none", "read")),
            fmt_r(r),
            if r >= 0.95 { "yes" } else { "**no**" }
        ));
    }
    for peer in PEERS {
        for store in [
            "cookie-signed",
            "cookie-encrypted",
            "memory",
            "redis",
            "postgres",
            "sqlite",
        ] {
            for sc in SCENARIOS {
                let p = rel(peer, store, sc);
                if !p.is_finite() {
                    continue;
                }
                let t = rel("tessera", store, sc);
                let ratio = t / p;
                target_rows.push(format!(
                    "| requests/s ≥ 1.3× {peer} (each ÷ its raw framework), {store} | {sc} | {} | {} | {} | {} |",
                    fmt_r(t),
                    fmt_r(p),
                    fmt_r(ratio),
                    if ratio >= 1.3 { "yes" } else { "**no**" }
                ));
            }
        }
    }
    // Round two's targets: encrypted cookies against actix-session's private cookie, large
    // sessions against tower-sessions, and absolute budgets. The budgets were set for tessera
    // applied with `Router::layer`, so they are compared with this table's figure plus axum's
    // own cost of that layer level (the reference row above).
    for sc in ["read", "update", "create"] {
        let t = layer("tessera", "cookie-encrypted", sc, "100");
        let p = layer("actix-session", "cookie-encrypted", sc, "100");
        if t.is_finite() {
            target_rows.push(format!(
                "| layer instructions ≤ 0.7× actix-session, cookie-encrypted | {sc} | {} | {} | {} | {} |",
                fmt_n(t),
                fmt_n(p),
                fmt_r(t / p),
                if t / p <= 0.7 { "yes" } else { "**no**" }
            ));
        }
    }
    for store in ["redis", "postgres"] {
        for sc in ["read", "update"] {
            let t = layer("tessera", store, sc, "65536");
            let p = layer("tower-sessions", store, sc, "65536");
            if t.is_finite() {
                target_rows.push(format!(
                    "| 64 KB session: layer instructions ≤ tower-sessions, {store} | {sc} | {} | {} | {} | {} |",
                    fmt_n(t),
                    fmt_n(p),
                    fmt_r(t / p),
                    if t / p <= 1.0 { "yes" } else { "**no**" }
                ));
            }
        }
    }
    for (store, budgets) in [
        (
            "memory",
            [("read", 5_950.0), ("update", 10_700.0), ("create", 8_700.0)],
        ),
        (
            "redis",
            [
                ("read", 22_000.0),
                ("update", 39_000.0),
                ("create", 27_000.0),
            ],
        ),
    ] {
        for (sc, budget) in budgets {
            let t = layer("tessera", store, sc, "100") + axum_layer;
            if t.is_finite() {
                target_rows.push(format!(
                    "| layer instructions with `Router::layer` ≤ {}, {store} | {sc} | {} | – | {} | {} |",
                    fmt_n(budget),
                    fmt_n(t),
                    fmt_r(t / budget),
                    if t <= budget { "yes" } else { "**no**" }
                ));
            }
        }
    }
    let memory_rows = read_tsv(dir, "memory.tsv");
    let per_session = |framework: &str, count: u64| {
        let rss = |n: u64| {
            memory_rows
                .iter()
                .find(|r| {
                    r["framework"] == framework
                        && r["store"] == "memory"
                        && num(r, "sessions") as u64 == n
                })
                .map(|r| num(r, "rss_kib"))
                .unwrap_or(f64::NAN)
        };
        (rss(count) - rss(0)) * 1024.0 / count as f64
    };
    let (t, p) = (
        per_session("tessera", 1_000_000),
        per_session("tower-sessions", 1_000_000),
    );
    if t.is_finite() {
        target_rows.push(format!(
            "| MemoryStore bytes per live session at 1,000,000 sessions ≤ 700 | fill | {} | {} | {} | {} |",
            fmt_n(t),
            fmt_n(p),
            fmt_r(t / p),
            if t <= 700.0 { "yes" } else { "**no**" }
        ));
    }
    for r in target_rows {
        let _ = writeln!(w, "{r}");
    }

    // Requests/s.
    let _ = writeln!(w, "\n## Requests/s (wrk, medians)\n");
    let _ = writeln!(
        w,
        "| framework | store | scenario | requests/s | × raw framework | server CPU µs/request | p50 µs | p99 µs | errors |\n|---|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for (f, s) in &configs {
        for sc in SCENARIOS {
            if let Some(&(r, p50, p99, errors, cpu)) =
                rps.get(&(f.clone(), s.clone(), sc.to_owned()))
            {
                let _ = writeln!(
                    w,
                    "| {f} | {s} | {sc} | {} | {} | {} | {} | {} | {} |",
                    fmt_n(r),
                    fmt_r(rel(f, s, sc)),
                    fmt_us(cpu),
                    fmt_n(p50),
                    fmt_n(p99),
                    fmt_n(errors)
                );
            }
        }
    }
    let _ = writeln!(
        w,
        "\ntessera against each peer, each divided by its raw framework:\n"
    );
    let _ = writeln!(
        w,
        "| store | scenario | tessera ÷ axum | tower-sessions ÷ axum | tessera vs tower-sessions | actix-session ÷ actix | tessera vs actix-session | layer CPU µs/request: tessera | tower-sessions | actix-session |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for store in [
        "cookie-signed",
        "cookie-encrypted",
        "memory",
        "redis",
        "postgres",
        "sqlite",
        "memory-unsigned",
        "redis-unsigned",
    ] {
        // tessera's `-unsigned` rows face the peers on the same store.
        let peer_store = store.strip_suffix("-unsigned").unwrap_or(store);
        for sc in SCENARIOS {
            let t = rel("tessera", store, sc);
            if !t.is_finite() {
                continue;
            }
            let a = rel("tower-sessions", peer_store, sc);
            let b = rel("actix-session", peer_store, sc);
            let _ = writeln!(
                w,
                "| {store} | {sc} | {} | {} | {} | {} | {} | {} | {} | {} |",
                fmt_r(t),
                fmt_r(a),
                fmt_r(t / a),
                fmt_r(b),
                fmt_r(t / b),
                fmt_us(layer_cpu("tessera", store, sc)),
                fmt_us(layer_cpu("tower-sessions", peer_store, sc)),
                fmt_us(layer_cpu("actix-session", peer_store, sc))
            );
        }
    }

    // Round trips.
    let _ = writeln!(w, "\n## Store round trips per request\n");
    let _ = writeln!(
        w,
        "| framework | store | scenario | per request |\n|---|---|---|---|"
    );
    for r in read_tsv(dir, "roundtrips.tsv") {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} |",
            r["framework"], r["store"], r["scenario"], r["commands"]
        );
    }

    // Payload growth.
    let _ = writeln!(w, "\n## Session size\n");
    // The sizes measured, smallest first: 100 (the other tables' session) and the payload
    // phase's.
    let mut payloads: Vec<u64> = ir.keys().filter_map(|k| k.3.parse().ok()).collect();
    payloads.sort_unstable();
    payloads.dedup();
    let size_names: Vec<String> = payloads.iter().map(|&p| size_name(p)).collect();
    let _ = writeln!(
        w,
        "Layer instructions per request with a session holding one user name and a value of \
         {} (callgrind, as above). In the plot a line's colour is its framework (tessera \
         blue, tower-sessions orange, actix-session green), its markers its store (circles \
         memory, squares Redis, triangles PostgreSQL); reads dashed, updates solid.\n",
        size_names.join(", ")
    );
    let _ = writeln!(
        w,
        "![layer instructions per request against session size]({size_link})\n"
    );
    let _ = writeln!(
        w,
        "| framework | store | scenario | {} |\n|---|---|---|{}",
        size_names.join(" | "),
        "---:|".repeat(payloads.len())
    );
    let mut size_series = Vec::new();
    for (f, s) in &configs {
        for sc in ["read", "update"] {
            let grown = payloads
                .iter()
                .filter(|&&p| p != 100)
                .any(|p| get_ir(f, s, sc, &p.to_string()).is_finite());
            if !grown {
                continue;
            }
            let costs: Vec<f64> = payloads
                .iter()
                .map(|p| layer(f, s, sc, &p.to_string()))
                .collect();
            let cells: Vec<String> = costs.iter().map(|&c| fmt_n(c)).collect();
            let _ = writeln!(w, "| {f} | {s} | {sc} | {} |", cells.join(" | "));
            size_series.push(curves::Series {
                label: format!("{f} {s} {sc}"),
                color: color(f),
                dashed: sc == "read",
                marker: marker(s),
                points: payloads.iter().map(|&p| p as f64).zip(costs).collect(),
            });
        }
    }

    // Live sessions.
    let _ = writeln!(w, "\n## Many live sessions\n");
    let _ = writeln!(
        w,
        "The store is filled with first visits (`client fill`: concurrent `/create` requests), then the read-only scenario \
         runs on sessions among them. Memory is the server's resident set. In the plot, colours \
         and markers as above; in-process stores solid, stores over the network dashed.\n"
    );
    let memory = read_tsv(dir, "memory.tsv");
    // (framework, store, live sessions) → each round's (requests/s, p99 µs, CPU µs/request).
    type LiveRounds = BTreeMap<(String, String, u64), Vec<(f64, f64, f64)>>;
    let mut live: LiveRounds = BTreeMap::new();
    for r in read_tsv(dir, "live.tsv") {
        live.entry((
            r["framework"].clone(),
            r["store"].clone(),
            num(&r, "sessions") as u64,
        ))
        .or_default()
        .push((num(&r, "rps"), num(&r, "p99_us"), num(&r, "cpu_us")));
    }
    let _ = writeln!(
        w,
        "![server CPU time per read request against live sessions]({live_link})\n"
    );
    let _ = writeln!(
        w,
        "| framework | store | live sessions | read requests/s | server CPU µs/request | p99 µs | server RSS MiB | bytes per session |\n|---|---|---:|---:|---:|---:|---:|---:|"
    );
    let mut live_series: BTreeMap<(String, String), Vec<(f64, f64)>> = BTreeMap::new();
    for ((f, s, n), v) in &live {
        let rss = |count: u64| {
            memory
                .iter()
                .find(|r| {
                    &r["framework"] == f && &r["store"] == s && num(r, "sessions") as u64 == count
                })
                .map(|r| num(r, "rss_kib"))
                .unwrap_or(f64::NAN)
        };
        let per = if s == "memory" {
            fmt_n((rss(*n) - rss(0)) * 1024.0 / *n as f64)
        } else {
            "–".into()
        };
        let cpu = median(v.iter().map(|x| x.2).collect());
        let _ = writeln!(
            w,
            "| {f} | {s} | {} | {} | {} | {} | {} | {per} |",
            fmt_n(*n as f64),
            fmt_n(median(v.iter().map(|x| x.0).collect())),
            fmt_us(cpu),
            fmt_n(median(v.iter().map(|x| x.1).collect())),
            fmt_n(rss(*n) / 1024.0),
        );
        live_series
            .entry((f.clone(), s.clone()))
            .or_default()
            .push((*n as f64, cpu));
    }

    hot_session(w, &read_tsv(dir, "hot.tsv"));
    redis_clients(w, &read_tsv(dir, "redis-clients.tsv"));

    std::fs::write(md_out, md).expect("write the markdown");
    // The plot shows the configurations wrk measured (callgrind-only rows have no bar).
    let plotted: Vec<(String, String)> = configs
        .iter()
        .filter(|(f, s)| {
            SCENARIOS
                .iter()
                .any(|sc| rps.contains_key(&(f.clone(), s.clone(), (*sc).to_owned())))
        })
        .cloned()
        .collect();
    std::fs::write(svg_out, svg(&plotted, &rps)).expect("write the svg");

    let size_ticks: Vec<(f64, String)> = payloads
        .iter()
        .zip(&size_names)
        .map(|(&p, name)| (p as f64, name.clone()))
        .collect();
    let size_chart = curves::line_chart(
        "Layer instructions per request against session size (callgrind; read dashed)",
        "session size",
        "instructions per request",
        curves::Scale::Log,
        &size_ticks,
        &size_series,
    );
    std::fs::write(&size_out, size_chart).expect("write the session-size svg");
    let mut counts: Vec<u64> = live.keys().map(|k| k.2).collect();
    counts.sort_unstable();
    counts.dedup();
    let live_ticks: Vec<(f64, String)> = counts
        .iter()
        .map(|&n| (n as f64, fmt_n(n as f64)))
        .collect();
    let live_lines: Vec<curves::Series> = live_series
        .into_iter()
        .map(|((f, s), points)| curves::Series {
            label: format!("{f} {s}"),
            color: color(&f),
            // In-process stores solid, stores over the network dashed.
            dashed: s != "memory",
            marker: marker(&s),
            points,
        })
        .collect();
    let live_chart = curves::line_chart(
        "Server CPU µs per read request against live sessions (wrk medians)",
        "live sessions",
        "server CPU µs per request",
        curves::Scale::Linear,
        &live_ticks,
        &live_lines,
    );
    std::fs::write(&live_out, live_chart).expect("write the live-sessions svg");
}

/// A payload size as a table heading: `100 B`, `1 KB`, `64 KB`.
fn size_name(bytes: u64) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

/// Microseconds with two decimals, for CPU time per request.
fn fmt_us(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}")
    } else {
        "–".into()
    }
}

/// A file beside `path` (same directory), named `name`.
fn beside(path: &str, name: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{name}"),
        None => name.to_owned(),
    }
}

fn color(framework: &str) -> &'static str {
    match framework {
        "tessera" => "#2a7ab9",
        "tower-sessions" => "#e08a1e",
        "actix-session" => "#3f9c4a",
        "axum" => "#8a8a8a",
        _ => "#bcbcbc",
    }
}

/// The point marker of a store's lines in the cost curves.
fn marker(store: &str) -> curves::Marker {
    match store.strip_suffix("-unsigned").unwrap_or(store) {
        "memory" => curves::Marker::Circle,
        "redis" => curves::Marker::Square,
        "postgres" => curves::Marker::Triangle,
        _ => curves::Marker::Diamond,
    }
}

/// Four panels (one per scenario), one bar per framework and store, median requests/s.
fn svg(configs: &[(String, String)], rps: &Rps) -> String {
    let (bar, gap, left, top, panel_h, label_h) = (16.0, 4.0, 70.0, 40.0, 200.0, 120.0);
    let panel_w = configs.len() as f64 * (bar + gap) + 20.0;
    let width = left + 2.0 * (panel_w + 40.0);
    let height = top + 2.0 * (panel_h + label_h + 30.0);
    let max = rps
        .values()
        .map(|v| v.0)
        .filter(|x| x.is_finite())
        .fold(1.0, f64::max);
    let step = [1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5]
        .into_iter()
        .find(|s| max / s <= 6.0)
        .unwrap_or(2e5);
    let top_val = (max / step).ceil() * step;
    let mut s = svg::open(
        width,
        height,
        left,
        "Requests/s per scenario, framework and store (wrk medians, one server core)",
    );
    for (i, (sc, name)) in SCENARIOS.iter().zip(SCENARIO_NAMES).enumerate() {
        let x0 = left + (i % 2) as f64 * (panel_w + 40.0);
        let y0 = top + (i / 2) as f64 * (panel_h + label_h + 30.0) + 16.0;
        let _ = writeln!(
            s,
            r#"<text x="{x0}" y="{:.0}" font-size="13" font-weight="bold">{name}</text>"#,
            y0 - 4.0
        );
        let mut v = 0.0;
        while v <= top_val + 1.0 {
            let y = y0 + panel_h - v / top_val * panel_h;
            svg::grid_line(&mut s, x0, x0 + panel_w, y, &fmt_n(v));
            v += step;
        }
        for (j, (f, st)) in configs.iter().enumerate() {
            let x = x0 + 10.0 + j as f64 * (bar + gap);
            if let Some(&(r, ..)) = rps.get(&(f.clone(), st.clone(), (*sc).to_owned())) {
                if r.is_finite() {
                    let h = r / top_val * panel_h;
                    let _ = writeln!(
                        s,
                        r#"<rect x="{x:.1}" y="{:.1}" width="{bar}" height="{h:.1}" fill="{}"><title>{f} {st}: {} req/s</title></rect>"#,
                        y0 + panel_h - h,
                        color(f),
                        fmt_n(r)
                    );
                }
            }
            let lx = x + bar / 2.0 + 3.0;
            let ly = y0 + panel_h + 6.0;
            let _ = writeln!(
                s,
                r#"<text x="{lx:.1}" y="{ly:.1}" transform="rotate(-60 {lx:.1} {ly:.1})" text-anchor="end">{f} {st}</text>"#
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// The hot-session table: one session, many connections incrementing its counter.
fn hot_session(w: &mut String, rows: &[Row]) {
    let _ = writeln!(w, "\n## Hot session\n");
    if rows.is_empty() {
        let _ = writeln!(w, "Not measured in this run.");
        return;
    }
    let (connections, seconds) = (&rows[0]["connections"], num(&rows[0], "seconds"));
    let _ = writeln!(
        w,
        "{connections} connections send `GET /incr` with the cookie of one session for \
         {seconds:.0} s; each answer 200 acknowledges one increment of the session's counter. \
         *Lost*: acknowledged increments the counter does not hold afterwards \
         (acknowledged − (after − before)). *Other answers*: statuses other than 200, by \
         status (a 409 is a refused increment, not a lost one); *no answer*: requests that got \
         no reply. Latency percentiles cover every answer. Round trips per acknowledged \
         write: Redis commands the server sent (tessera's EVALSHA counts once, the commands its \
         Lua scripts run inside it are not round trips) or PostgreSQL transactions, divided by \
         the 200s; `–` for the in-process memory stores.\n"
    );
    let _ = writeln!(
        w,
        "| framework | store | requests/s | p50 µs | p99 µs | acknowledged (200) | other answers | no answer | counter before → after | lost increments | round trips per acknowledged write | commands per acknowledged write |\n\
         |---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|"
    );
    for r in rows {
        let other = match r["other"].as_str() {
            "-" | "" => "–".to_owned(),
            list => list
                .split(',')
                .map(|pair| match pair.split_once(':') {
                    Some((status, n)) => {
                        format!("{status} × {}", fmt_n(n.parse().unwrap_or(f64::NAN)))
                    }
                    None => pair.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(", "),
        };
        let round_trips = match r["round_trips"].as_str() {
            "-" | "" => "–".to_owned(),
            v => v.to_owned(),
        };
        let commands = if r["commands"].starts_with("none") {
            "–".to_owned()
        } else {
            r["commands"].clone()
        };
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {other} | {} | {} → {} | {} | {round_trips} | {commands} |",
            r["framework"],
            r["store"],
            fmt_n(num(r, "rps")),
            fmt_n(num(r, "p50_us")),
            fmt_n(num(r, "p99_us")),
            fmt_n(num(r, "ok")),
            fmt_n(num(r, "io_errors")),
            fmt_n(num(r, "initial")),
            fmt_n(num(r, "final")),
            fmt_n(num(r, "lost")),
        );
    }
    for r in rows.iter().filter(|r| num(r, "new_cookies") > 0.0) {
        let _ = writeln!(
            w,
            "\n{} on {}: {} answers set a cookie value other than the one sent (the client kept \
             sending the first; an encrypted id cookie, as actix-session's by default, reads \
             differently each time for the same session).",
            r["framework"],
            r["store"],
            fmt_n(num(r, "new_cookies"))
        );
    }
    let have = |f: &str, s: &str| rows.iter().any(|r| r["framework"] == f && r["store"] == s);
    let absent: Vec<String> = ["tessera", "tower-sessions", "actix-session"]
        .iter()
        .flat_map(|f| ["memory", "redis", "postgres"].map(|s| (*f, s)))
        .filter(|(f, s)| !have(f, s))
        .map(|(f, s)| {
            let why = if f == "actix-session" && s != "redis" {
                "actix-session has no such store of its own (0.11 ships a cookie store and a \
                 Redis store)"
            } else {
                "not run in this pass"
            };
            format!("{f} on {s}: {why}")
        })
        .collect();
    if !absent.is_empty() {
        let _ = writeln!(w, "\nAbsent rows: {}.", absent.join("; "));
    }
}

/// The clients `redis_clients` measures, in its order, with what each one is.
const REDIS_CLIENTS: [(&str, &str); 7] = [
    (
        "manager-timeout",
        "`redis` `ConnectionManager` with a response timeout and 2 retries, under tessera's \
         own tokio timeout: what the store ran before it dropped the second timer",
    ),
    ("manager", "the same without the outer tokio timeout"),
    (
        "manager-outer-timeout",
        "`ConnectionManager` without a response timeout of its own, under tessera's tokio \
         timeout alone: what the store runs today",
    ),
    (
        "multiplexed",
        "`redis` `MultiplexedConnection` (`get_multiplexed_async_connection`, its default \
         500 ms response timeout), no reconnection",
    ),
    (
        "multiplexed-no-timeout",
        "the same with the response timeout off",
    ),
    (
        "dedicated",
        "one TCP connection behind a mutex, the `redis` crate's command encoding and reply \
         parser only: no reconnection, no timeout (the floor)",
    ),
    (
        "fred",
        "`fred` `Client` with a reconnection policy and a 3 s command timeout (`EVALSHA` as a \
         custom command; its reply converted to a `redis` value, so the same code decodes \
         every client's)",
    ),
];

/// The Redis client alone: instructions per call of the store's two scripts, per client.
/// Absent from the report when the run did not measure it.
fn redis_clients(w: &mut String, rows: &[Row]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(w, "\n## Redis clients alone\n");
    let _ = writeln!(
        w,
        "The commands tessera's Redis store sends per request, without tessera: the `EVALSHA` \
         of its load script (a 100-byte record, the reply decoded as the store decodes it) and \
         of its save script (a 100-byte payload), through each client on a single-threaded \
         tokio runtime. Instructions per call under callgrind, (Ir(2N) − Ir(N)) / N with N = \
         {} (`src/bin/redis_clients.rs`); the client's user-space work only, not the kernel's \
         or Redis's.\n",
        rows[0]["n"]
    );
    let _ = writeln!(
        w,
        "| client | load | save | what it is |\n|---|---:|---:|---|"
    );
    let per_call = |client: &str, op: &str| {
        rows.iter()
            .find(|r| r["client"] == client && r["op"] == op)
            .map(|r| (num(r, "ir_2n") - num(r, "ir_n")) / num(r, "n"))
            .map_or_else(|| "–".to_owned(), fmt_n)
    };
    let mut names: Vec<(&str, &str)> = REDIS_CLIENTS.to_vec();
    for r in rows {
        if !names.iter().any(|(n, _)| *n == r["client"]) {
            names.push((r["client"].as_str(), ""));
        }
    }
    for (client, what) in names {
        let _ = writeln!(
            w,
            "| {client} | {} | {} | {what} |",
            per_call(client, "load"),
            per_call(client, "save")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> Row {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn redis_clients_show_instructions_per_call() {
        let mut w = String::new();
        redis_clients(&mut w, &[]);
        assert!(w.is_empty(), "no section without results");
        let rows = [
            row(&[
                ("client", "manager"),
                ("op", "load"),
                ("n", "10"),
                ("ir_n", "1000"),
                ("ir_2n", "201000"),
            ]),
            row(&[
                ("client", "fred"),
                ("op", "save"),
                ("n", "10"),
                ("ir_n", "5"),
                ("ir_2n", "300005"),
            ]),
        ];
        redis_clients(&mut w, &rows);
        assert!(w.contains("## Redis clients alone"));
        assert!(w.contains("N = 10 "));
        let manager = w.lines().find(|l| l.starts_with("| manager |")).unwrap();
        assert!(
            manager.starts_with(&format!("| manager | {} | – |", fmt_n(20_000.0))),
            "{manager}"
        );
        let fred = w.lines().find(|l| l.starts_with("| fred |")).unwrap();
        assert!(
            fred.starts_with(&format!("| fred | – | {} |", fmt_n(30_000.0))),
            "{fred}"
        );
    }
}
