//! [`dumps`](super::dumps) checked by real Python: CPython's `pickle.loads` reads every sample
//! value back as the mapping says, and tessera reads CPython's own pickles of them.
//!
//! Python is `TESSERA_PYTHON`, else the interop virtualenv (`.venv-interop`, made by
//! `scripts/services/python-interop.sh`), else `python3`. Without one the test skips loudly,
//! or fails under `TESSERA_REQUIRE_SERVICES=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

use super::tests::sample_values;
use super::{dumps, loads};

/// The variable [`crate::conformance::REQUIRE_SERVICES`] names (that module is behind the
/// `conformance` feature; these tests are not).
const REQUIRE_SERVICES: &str = "TESSERA_REQUIRE_SERVICES";

/// Reads `<in>` (JSON lines of `{"json": …, "pickle": <base64>}`), checks each pickle loads as
/// the JSON says, writes `pickle.dumps(value, HIGHEST_PROTOCOL)` of each to `<out>`, and exits
/// non-zero after printing every mismatch.
const SCRIPT: &str = r#"
import base64, json, pickle, struct, sys

TAGS = {" i", " b", " t", " s", " di"}

def from_json(v):
    if isinstance(v, list):
        return [from_json(x) for x in v]
    if isinstance(v, dict):
        if len(v) == 1:
            (k, x), = v.items()
            if k == " i":
                return int(x)
            if k == " b":
                return base64.b64decode(x, validate=True)
            if k == " t":
                return tuple(from_json(y) for y in x)
            if k == " s":
                return {from_json(y) for y in x}
            if k == " di":
                (ek, ex), = x.items()
                assert ek.endswith("__") and ek[:-2] in TAGS, ek
                return {ek[:-2]: from_json(ex)}
        return {k: from_json(x) for k, x in v.items()}
    return v

def same(a, b):
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return struct.pack(">d", a) == struct.pack(">d", b)
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if type(a) is set:
        return a == b and sorted(map(repr, a)) == sorted(map(repr, b))
    return a == b

bad = 0
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for n, line in enumerate(lines):
        case = json.loads(line)
        expected = from_json(case["json"])
        try:
            got = pickle.loads(base64.b64decode(case["pickle"]))
        except Exception as e:
            got = e
        if not same(got, expected):
            bad += 1
            print(f"value {n}: pickle.loads gave {got!r:.300}, expected {expected!r:.300}")
        out.write(base64.b64encode(pickle.dumps(expected, pickle.HIGHEST_PROTOCOL)).decode() + "\n")
print(f"{len(lines)} values checked, {bad} mismatches")
sys.exit(1 if bad else 0)
"#;

fn python() -> Option<PathBuf> {
    if let Some(python) = std::env::var_os("TESSERA_PYTHON") {
        return Some(python.into());
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-interop/bin/python");
    if venv.exists() {
        return Some(venv);
    }
    let found = Command::new("python3")
        .args(["-c", "import sys; sys.exit(sys.version_info < (3, 8))"])
        .status()
        .is_ok_and(|status| status.success());
    found.then(|| "python3".into())
}

/// `{" s": [...]}` items sorted: Python writes a set in its own order.
fn sets_sorted(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(sets_sorted).collect()),
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), sets_sorted(v)))
                .collect();
            if let (1, Some(Value::Array(items))) = (out.len(), out.get_mut(" s")) {
                items.sort_by_key(ToString::to_string);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[test]
fn python_reads_dumps_and_tessera_reads_python() {
    let Some(python) = python() else {
        if std::env::var(REQUIRE_SERVICES).as_deref() == Ok("1") {
            panic!("Python is required ({REQUIRE_SERVICES}=1) but none was found: set TESSERA_PYTHON or run scripts/services/python-interop.sh");
        }
        eprintln!("\n*** SKIPPED: no Python for the pickle round trip (TESSERA_PYTHON, .venv-interop, python3); set {REQUIRE_SERVICES}=1 to fail instead ***\n");
        return;
    };
    let values = sample_values();
    assert!(values.len() > 300);
    let mut lines = String::new();
    for value in &values {
        let pickle = dumps(value).unwrap_or_else(|e| panic!("{value}: {e}"));
        let line = json!({"json": value, "pickle": STANDARD.encode(pickle)});
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    let dir = std::env::temp_dir().join(format!(
        "tessera-pickle-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("tessera.jsonl"), dir.join("python.b64"));
    std::fs::write(&input, lines).unwrap();
    let run = Command::new(&python)
        .args(["-c", SCRIPT])
        .arg(&input)
        .arg(&output)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    eprintln!("{}: {}", python.display(), stdout.trim_end());
    let from_python = std::fs::read_to_string(&output).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        run.status.success(),
        "Python disagrees with tessera's pickles:\n{stdout}\n{stderr}"
    );

    // And the other way: CPython's protocol-5 pickles of the same values.
    let pickles: Vec<&str> = from_python.lines().collect();
    assert_eq!(pickles.len(), values.len());
    let mut mismatches = Vec::new();
    for (n, (value, pickle)) in values.iter().zip(pickles).enumerate() {
        let bytes = STANDARD.decode(pickle).unwrap();
        match loads(&bytes) {
            Ok(got) if sets_sorted(&got) == sets_sorted(value) => {}
            got => mismatches.push(format!("value {n}: {value:.300} read back as {got:.300?}")),
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
