//! The store commands (`list`, `inspect`, `stats`, `delete`, `clear-expired`, `migrate`) run as
//! an operator runs them: the `tessera` binary, configured by the environment and its flags,
//! against the real servers `.ci/run` starts. Sessions are seeded through the library.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use tessera::clock::ManualClock;
use tessera::conformance::server_or_skip;
use tessera::crypto::{KeyRing, SecretKey};
use tessera::store::{self, listing, Expected, OpenOptions, Saved, SharedStore};
use tessera::{Data, Expiry, ExpiryPolicy, Profile, Record, SessionId};
use time::{Duration, OffsetDateTime};

const SECRET: &str = "cli-store-tests-secret-key-0123456789abcdef";

fn unique(tag: &str) -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{tag}{hex}")
}

fn env_url(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// A temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(unique(&format!("tessera-cli-{tag}-")));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One store the commands run against.
struct Target {
    name: &'static str,
    url: String,
    profile: Profile,
    key_prefix: Option<String>,
    server_expires: bool,
    /// Whether a record past its deadline stays stored until cleared (MongoDB's TTL index
    /// removes them itself, though its `clear_expired` still has work when it lags).
    keeps_expired: bool,
    _scratch: Option<Scratch>,
}

impl Target {
    fn options(&self, clock: Option<ManualClock>) -> OpenOptions {
        let mut options = OpenOptions::default()
            .with_profile(self.profile, ExpiryPolicy::new(Duration::weeks(2), true))
            .with_keys(KeyRing::new(SecretKey::new(SECRET).unwrap()));
        if let Some(prefix) = &self.key_prefix {
            options = options.with_key_prefix(prefix.clone());
        }
        if self.profile == Profile::Django {
            // Django's file engine names files after the cookie, `sessionid` by default.
            options = options.with_cookie_name("sessionid");
        }
        if let Some(clock) = clock {
            options = options.with_clock(Arc::new(clock));
        }
        options
    }

    async fn open(&self, clock: Option<ManualClock>) -> Option<SharedStore> {
        server_or_skip(
            &format!("{} at {}", self.name, self.url),
            store::open(&self.url, &self.options(clock)).await,
        )
    }

    /// The `tessera` command with this store in the environment, as an operator sets it.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        for (name, _) in std::env::vars() {
            if name.starts_with("SESSION_") || name.starts_with("SECRET_KEY") {
                command.env_remove(name);
            }
        }
        command
            .env("SESSION_URL", &self.url)
            .env("SESSION_PROFILE", self.profile.to_string())
            .env("SECRET_KEY", SECRET)
            .args(args)
            .stdin(Stdio::null());
        if let Some(prefix) = &self.key_prefix {
            command.env("SESSION_KEY_PREFIX", prefix);
        }
        command
    }

    fn run(&self, args: &[&str]) -> Ran {
        let mut ran = Ran::of(&mut self.command(args));
        ran.on = self.name.to_owned();
        ran
    }
}

struct Ran {
    /// Which store, for failure messages.
    on: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn of(command: &mut Command) -> Self {
        let out = command.output().unwrap();
        Self {
            on: String::new(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    fn ok(self, what: &str) -> Self {
        assert_eq!(
            self.code, 0,
            "{}: {what}: exit {}; stderr: {}",
            self.on, self.code, self.stderr
        );
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.stdout))
    }

    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn record(data: Value, expires_at: OffsetDateTime) -> Record {
    let data: Data = serde_json::from_value(data).unwrap();
    Record::new(
        data,
        Expiry::Default,
        expires_at.replace_nanosecond(0).unwrap(),
    )
}

async fn saved(store: &SharedStore, id: &SessionId, record: &Record) {
    assert!(matches!(
        store.save(id, record, Expected::Absent).await.unwrap(),
        Saved::Written(_)
    ));
}

fn targets() -> Vec<Target> {
    let prefixed = |name, url: String, profile, server_expires| Target {
        name,
        url,
        profile,
        key_prefix: Some(unique("tessera-cli-") + ":"),
        server_expires,
        keeps_expired: !server_expires,
        _scratch: None,
    };
    let at = |name, url: String, profile, scratch| Target {
        name,
        url,
        profile,
        key_prefix: None,
        server_expires: false,
        keeps_expired: true,
        _scratch: scratch,
    };
    let sqlite = Scratch::new("sqlite");
    let sqlite_url = format!("sqlite://{}", sqlite.0.join("sessions.db").display());
    let django = Scratch::new("django");
    let django_url = format!(
        "sqlite://{}?migrate=true",
        django.0.join("django.db").display()
    );
    let files = Scratch::new("file");
    let files_url = format!("file://{}", files.0.display());
    let postgres = env_url(
        "TESSERA_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    );
    let mysql = env_url("TESSERA_MYSQL_URL", "mysql://root@127.0.0.1:3306/test");
    let redis = env_url("TESSERA_REDIS_URL", "redis://127.0.0.1:6379");
    let redis_base = redis.trim_end_matches('/').to_owned();
    let memcached = env_url("TESSERA_MEMCACHED_URL", "memcached://127.0.0.1:11211");
    let mongodb = env_url("TESSERA_MONGODB_URL", "mongodb://127.0.0.1:27018");
    let cluster = env_url(
        "TESSERA_REDIS_CLUSTER_URL",
        "redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003",
    );
    let django_files = Scratch::new("django-file");
    let django_files_url = format!("file://{}", django_files.0.display());
    vec![
        at("sqlite", sqlite_url, Profile::Native, Some(sqlite)),
        at(
            "postgres",
            format!("{postgres}?table={}", unique("tessera_cli_")),
            Profile::Native,
            None,
        ),
        at(
            "mysql",
            format!("{mysql}?table={}", unique("tessera_cli_")),
            Profile::Native,
            None,
        ),
        Target {
            keeps_expired: false,
            ..at(
                "mongodb",
                format!("{mongodb}/tessera_test?collection={}", unique("cli_")),
                Profile::Native,
                None,
            )
        },
        at("file", files_url, Profile::Native, Some(files)),
        at(
            "django on sqlite",
            django_url,
            Profile::Django,
            Some(django),
        ),
        prefixed("redis", redis.clone(), Profile::Native, true),
        prefixed("flask-session on redis", redis, Profile::FlaskSession, true),
        prefixed("memcached", memcached, Profile::Native, true),
        prefixed("redis cluster", cluster, Profile::Native, true),
        Target {
            name: "django's cache engine on redis",
            url: format!("{redis_base}?key_prefix={}", unique("tessera-cli-")),
            profile: Profile::Django,
            key_prefix: None,
            server_expires: true,
            keeps_expired: false,
            _scratch: None,
        },
        at(
            "django's file engine",
            django_files_url,
            Profile::Django,
            Some(django_files),
        ),
    ]
}

/// Three live sessions, and, on stores that keep expired records until cleared, two expired
/// ones (written by a store whose clock is a day behind). The live ones' ids and records.
async fn seed(t: &Target) -> Option<Vec<(SessionId, Record)>> {
    let store = t.open(None).await?;
    if !t.server_expires {
        let yesterday = ManualClock::new(OffsetDateTime::now_utc() - Duration::days(1));
        let behind = t.open(Some(yesterday.clone())).await?;
        for _ in 0..2 {
            let id = t.profile.generate_id().unwrap();
            let r = record(
                json!({"old": true}),
                yesterday.now_utc() + Duration::hours(1),
            );
            saved(&behind, &id, &r).await;
        }
    }
    let mut live = Vec::new();
    for i in 0..3 {
        let id = t.profile.generate_id().unwrap();
        let r = record(
            json!({"user": format!("u{i}"), "n": i}),
            OffsetDateTime::now_utc() + Duration::hours(1),
        );
        saved(&store, &id, &r).await;
        live.push((id, r));
    }
    Some(live)
}

trait NowUtc {
    fn now_utc(&self) -> OffsetDateTime;
}

impl NowUtc for ManualClock {
    fn now_utc(&self) -> OffsetDateTime {
        tessera::clock::Clock::now(self)
    }
}

async fn exercise(t: Target) {
    let Some(live) = seed(&t).await else { return };
    let name = t.name;
    let expired = if t.keeps_expired { 2 } else { 0 };

    let stats = t.run(&["stats", "--json"]).ok("stats").json();
    assert_eq!(stats["sessions"], 3, "{name}: {stats}");
    assert_eq!(stats["expired_still_stored"], expired, "{name}: {stats}");
    assert!(stats["total_bytes"].as_u64().unwrap() > 0, "{name}");
    assert_eq!(stats["expiring_within_a_day"], 3, "{name}: {stats}");

    let listed = t.run(&["list", "--json"]).ok("list").json_lines();
    assert_eq!(listed.len(), 3, "{name}: {listed:?}");
    for l in &listed {
        let id = l["id"].as_str().unwrap();
        assert!(
            id.starts_with('#') && id.len() == 9,
            "{name}: ids are shown hashed: {id}"
        );
        assert_eq!(l["keys"], json!(["n", "user"]), "{name}");
        assert_eq!(l["expired"], false);
        assert!(
            live.iter()
                .all(|(live, _)| !l.to_string().contains(live.expose())),
            "{name}: a raw id was printed"
        );
    }
    let with_expired = t.run(&["list", "--json", "--expired"]).ok("list --expired");
    assert_eq!(with_expired.json_lines().len(), 3 + expired, "{name}");
    let shown: Vec<String> = t
        .run(&["list", "--json", "--show-ids"])
        .ok("list --show-ids")
        .json_lines()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = live.iter().map(|(id, _)| id.expose().to_owned()).collect();
    let mut shown_sorted = shown.clone();
    shown_sorted.sort();
    expected.sort();
    assert_eq!(
        shown_sorted, expected,
        "{name}: --show-ids lists the ids as stored"
    );
    let table = t.run(&["list", "--limit", "2"]).ok("list as text");
    assert_eq!(
        table.stdout.lines().count(),
        3,
        "{name}: a header and two rows: {}",
        table.stdout
    );

    let (first, first_record) = &live[0];
    let inspected = t
        .run(&["inspect", "--json", first.expose()])
        .ok("inspect")
        .json();
    assert_eq!(inspected["keys"], json!(["n", "user"]), "{name}");
    assert!(
        inspected.get("values").is_none(),
        "{name}: values only when asked"
    );
    let with_values = t
        .run(&["inspect", "--json", "--show-values", first.expose()])
        .ok("inspect --show-values")
        .json();
    assert_eq!(with_values["values"]["user"], "u0", "{name}");
    let deadline = time::OffsetDateTime::parse(
        with_values["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        (deadline - first_record.expires_at).abs() <= Duration::seconds(2),
        "{name}: the deadline shown"
    );
    let missing = t.run(&["inspect", t.profile.generate_id().unwrap().expose()]);
    assert_eq!(missing.code, 1, "{name}: an absent session is a failure");

    let refused = t.run(&["delete", first.expose()]);
    assert_eq!(
        refused.code, 2,
        "{name}: no --yes and no terminal: {}",
        refused.stderr
    );
    let store = t.open(None).await.unwrap();
    assert!(
        store.exists(first).await.unwrap(),
        "{name}: nothing deleted unconfirmed"
    );
    let deleted = t.run(&["delete", "--yes", first.expose()]).ok("delete");
    assert!(
        deleted.stdout.contains("deleted"),
        "{name}: {}",
        deleted.stdout
    );
    assert!(!store.exists(first).await.unwrap(), "{name}: deleted");

    let cleared = t
        .run(&["clear-expired", "--json"])
        .ok("clear-expired")
        .json();
    if t.server_expires {
        assert_eq!(cleared["server_expires"], true, "{name}: {cleared}");
        let text = t.run(&["clear-expired"]).ok("clear-expired as text");
        assert!(text.stdout.contains("itself"), "{name}: {}", text.stdout);
    } else {
        assert_eq!(cleared["removed"], expired, "{name}: {cleared}");
        assert_eq!(cleared["kept"], 2, "{name}: {cleared}");
    }
    let stats = t.run(&["stats", "--json"]).ok("stats after").json();
    assert_eq!(stats["sessions"], 2, "{name}: {stats}");
    assert_eq!(stats["expired_still_stored"], 0, "{name}: {stats}");
    let text = t.run(&["stats"]).ok("stats as text");
    assert!(
        text.stdout.contains("sessions                 2"),
        "{name}: {}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_store_command_on_every_store() {
    for target in targets() {
        exercise(target).await;
    }
}

/// Counts a store's live sessions through its listing.
async fn live_count(store: &SharedStore) -> usize {
    let now = OffsetDateTime::now_utc();
    let mut all = store.list();
    let mut n = 0;
    while let Some(l) = listing::next(&mut all).await {
        if !l.unwrap().is_expired(now) {
            n += 1;
        }
    }
    n
}

fn migrate_command(from: &Target, to: &Target, extra: &[&str]) -> Command {
    let mut command = from.command(&["migrate", "--from", &from.url, "--to", &to.url]);
    command
        .args(["--from-profile", &from.profile.to_string()])
        .args(["--to-profile", &to.profile.to_string()])
        .env_remove("SESSION_KEY_PREFIX")
        .env_remove("SESSION_PROFILE")
        .args(extra);
    if let Some(prefix) = &from.key_prefix {
        command.args(["--from-key-prefix", prefix]);
    }
    if let Some(prefix) = &to.key_prefix {
        command.args(["--to-key-prefix", prefix]);
    }
    command
}

/// Flask-Session on Redis to tessera's own table on PostgreSQL: every live session copied with
/// its id, data and deadline; a second run copies nothing and finds every one present.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_flask_session_on_redis_to_native_on_postgres() {
    let mut all = targets();
    let to = all.remove(1);
    let from = all.remove(6);
    assert_eq!((from.name, to.name), ("flask-session on redis", "postgres"));
    let (Some(source), Some(target)) = (from.open(None).await, to.open(None).await) else {
        return;
    };
    let mut seeded = BTreeMap::new();
    for i in 0..500 {
        let id = from.profile.generate_id().unwrap();
        let r = record(
            json!({"user": format!("u{i}"), "cart": [i, i + 1]}),
            OffsetDateTime::now_utc() + Duration::hours(1) + Duration::seconds(i),
        );
        saved(&source, &id, &r).await;
        seeded.insert(id, r);
    }
    let dry = Ran::of(&mut migrate_command(&from, &to, &["--json", "--dry-run"])).ok("dry run");
    assert_eq!(dry.json()["copied"], 500, "{}", dry.stdout);
    assert_eq!(live_count(&target).await, 0, "a dry run writes nothing");
    let first = Ran::of(&mut migrate_command(&from, &to, &["--json"])).ok("migrate");
    let counts = first.json();
    assert_eq!(counts["copied"], 500, "{counts}");
    assert_eq!(counts["already_present"], 0, "{counts}");
    for (id, r) in &seeded {
        let copied = target.load(id).await.unwrap().expect("copied under its id");
        assert_eq!(copied.record.data, r.data);
        assert_eq!(
            copied.record.expires_at, r.expires_at,
            "the deadline is kept"
        );
    }
    let again = Ran::of(&mut migrate_command(&from, &to, &["--json"]))
        .ok("migrate again")
        .json();
    assert_eq!(again["copied"], 0, "{again}");
    assert_eq!(again["already_present"], 500, "{again}");
}

/// A migration killed halfway and started again ends with every session copied once, intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_killed_halfway_resumes() {
    let mut all = targets();
    let to = all.remove(1);
    let from = all.remove(0);
    assert_eq!((from.name, to.name), ("sqlite", "postgres"));
    let (Some(source), Some(target)) = (from.open(None).await, to.open(None).await) else {
        return;
    };
    let mut seeded = BTreeMap::new();
    for i in 0..3000 {
        let id = from.profile.generate_id().unwrap();
        let r = record(
            json!({"user": format!("u{i}")}),
            OffsetDateTime::now_utc() + Duration::hours(2) + Duration::seconds(i),
        );
        saved(&source, &id, &r).await;
        seeded.insert(id, r);
    }
    let mut child = migrate_command(&from, &to, &["--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + StdDuration::from_secs(60);
    let mut copied_before = live_count(&target).await;
    while copied_before < 300 {
        assert!(Instant::now() < deadline, "the migration made no progress");
        tokio::time::sleep(StdDuration::from_millis(20)).await;
        copied_before = live_count(&target).await;
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first run finished before it could be stopped"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = live_count(&target).await;
    assert!(partial < 3000, "killed halfway: {partial} copied");
    let resumed = Ran::of(&mut migrate_command(&from, &to, &["--json"]))
        .ok("resumed")
        .json();
    let copied = resumed["copied"].as_u64().unwrap();
    let present = resumed["already_present"].as_u64().unwrap();
    assert_eq!(copied + present, 3000, "{resumed}");
    assert_eq!(
        present, partial as u64,
        "what the first run copied is found, not copied again"
    );
    assert_eq!(live_count(&target).await, 3000);
    for (id, r) in &seeded {
        let loaded = target.load(id).await.unwrap().expect("copied");
        assert_eq!(loaded.record.data, r.data, "intact");
        assert_eq!(loaded.record.expires_at, r.expires_at);
    }
}

/// Sessions the target profile cannot keep under their ids (Django's keys are 32 lowercase
/// characters), and records the source cannot read, are counted and reported: exit 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_reports_what_it_cannot_copy() {
    let mut all = targets();
    let to = all.remove(5);
    let from = all.remove(0);
    assert_eq!((from.name, to.name), ("sqlite", "django on sqlite"));
    let Some(source) = from.open(None).await else {
        return;
    };
    for i in 0..3 {
        let id = from.profile.generate_id().unwrap();
        let r = record(
            json!({"n": i}),
            OffsetDateTime::now_utc() + Duration::hours(1),
        );
        saved(&source, &id, &r).await;
    }
    let ran = Ran::of(&mut migrate_command(&from, &to, &["--json"]));
    assert_eq!(ran.code, 3, "some sessions refused: {}", ran.stderr);
    let counts = ran.json();
    assert_eq!(counts["refused_ids"], 3, "{counts}");
    assert_eq!(counts["copied"], 0, "{counts}");
}

#[test]
fn keygen_makes_64_random_bytes() {
    let a = Ran::of(Command::new(env!("CARGO_BIN_EXE_tessera")).arg("keygen")).ok("keygen");
    let b = Ran::of(Command::new(env!("CARGO_BIN_EXE_tessera")).arg("keygen")).ok("keygen");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(a.stdout.trim())
        .unwrap();
    assert_eq!(bytes.len(), 64);
    assert_ne!(a.stdout, b.stdout);
    let help = Ran::of(Command::new(env!("CARGO_BIN_EXE_tessera")).args(["keygen", "--help"]));
    assert!(
        help.stdout.contains("SECRET_KEY_FALLBACKS"),
        "{}",
        help.stdout
    );
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef tessera"),
        ("fish", "complete -c tessera"),
    ] {
        let ran = Ran::of(Command::new(env!("CARGO_BIN_EXE_tessera")).args(["completions", shell]))
            .ok(shell);
        assert!(ran.stdout.contains(marker), "{shell}");
        assert!(
            ran.stdout.contains("clear-expired"),
            "{shell}: every command"
        );
    }
}

#[test]
fn errors_name_the_variable_or_flag() {
    let bare = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
        for (name, _) in std::env::vars() {
            if name.starts_with("SESSION_") || name.starts_with("SECRET_KEY") {
                c.env_remove(name);
            }
        }
        c
    };
    let none = Ran::of(&mut {
        let mut c = bare();
        c.arg("stats");
        c
    });
    assert_eq!(none.code, 2);
    assert!(
        none.stderr.contains("SESSION_URL") && none.stderr.contains("--store"),
        "{}",
        none.stderr
    );
    let bad = Ran::of(&mut {
        let mut c = bare();
        c.args(["stats"])
            .env("SESSION_URL", "memory")
            .env("SESSION_STORE_TIMEOUT_MS", "soon");
        c
    });
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("SESSION_STORE_TIMEOUT_MS"),
        "{}",
        bad.stderr
    );
    let cookie = Ran::of(&mut {
        let mut c = bare();
        c.args(["list", "--store", "cookie+encrypted"])
            .env("SECRET_KEY", SECRET);
        c
    });
    assert_eq!(cookie.code, 2);
    assert!(cookie.stderr.contains("cookie"), "{}", cookie.stderr);
    for command in [
        "list",
        "inspect",
        "stats",
        "delete",
        "clear-expired",
        "migrate",
        "keygen",
    ] {
        let help = Ran::of(&mut {
            let mut c = bare();
            c.args([command, "--help"]);
            c
        });
        assert!(
            help.stdout.contains("Example"),
            "{command} --help has an example"
        );
    }
}

/// A record the source cannot decode is counted as unreadable and left alone; the rest are
/// copied; the run exits 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_counts_unreadable_records() {
    let mut all = targets();
    let to = all.remove(1);
    let from = all.remove(5);
    assert_eq!((from.name, to.name), ("redis", "postgres"));
    let Some(source) = from.open(None).await else {
        return;
    };
    for i in 0..2 {
        let id = from.profile.generate_id().unwrap();
        let r = record(
            json!({"n": i}),
            OffsetDateTime::now_utc() + Duration::hours(1),
        );
        saved(&source, &id, &r).await;
    }
    // A value no codec reads, planted with the server's own client.
    let bad = from.profile.generate_id().unwrap();
    let key = format!("{}{}", from.key_prefix.as_deref().unwrap(), bad.expose());
    let planted = Command::new("redis-cli")
        .args([
            "-u",
            &from.url,
            "SET",
            &key,
            "\u{1}not a session",
            "EX",
            "3600",
        ])
        .output();
    let Some(planted) = server_or_skip("redis-cli (the Redis client binary)", planted) else {
        return;
    };
    assert!(planted.status.success());
    let ran = Ran::of(&mut migrate_command(&from, &to, &["--json"]));
    assert_eq!(
        ran.code, 3,
        "an unreadable record is reported: {}",
        ran.stderr
    );
    let counts = ran.json();
    assert_eq!(counts["copied"], 2, "{counts}");
    assert_eq!(counts["refused_unreadable"], 1, "{counts}");
    let target = to.open(None).await.unwrap();
    assert!(
        !target.exists(&bad).await.unwrap(),
        "nothing written for it"
    );
}

/// A store that cannot enumerate its records (Flask-Session's files, named by a hash of a key
/// they do not hold) is refused with a clear message, exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_list_says_so() {
    let dir = Scratch::new("flask-session-files");
    let t = Target {
        name: "flask-session files",
        url: format!("file://{}", dir.0.display()),
        profile: Profile::FlaskSession,
        key_prefix: None,
        server_expires: false,
        keeps_expired: true,
        _scratch: None,
    };
    let ran = t.run(&["stats"]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    assert!(ran.stderr.contains("cannot list"), "{}", ran.stderr);
    let cleared = t
        .run(&["clear-expired", "--json"])
        .ok("clear-expired")
        .json();
    assert_eq!(cleared["removed"], 0);
    assert_eq!(
        cleared["kept"],
        Value::Null,
        "unknown without a listing: {cleared}"
    );
}
