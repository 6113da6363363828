//! The `tessera` binary against the golden vectors made by Flask, Flask-Session and Django.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

fn golden() -> Value {
    serde_json::from_str(include_str!("../../tessera/tests/data/golden.json")).unwrap()
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn tessera(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .env_remove("SECRET_KEY")
        .output()
        .unwrap();
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8(out.stdout).unwrap().trim_end().to_owned(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn flask_cookies_decode_and_encode_byte_for_byte() {
    let g = golden();
    let key = g["flask_secret"].as_str().unwrap();
    let now = g["now"].as_i64().unwrap().to_string();
    for case in g["flask"].as_array().unwrap() {
        if case.get("fallback").is_some() {
            continue;
        }
        let cookie = case["cookie"].as_str().unwrap();
        let run = tessera(&[
            "cookie",
            "decode",
            "--profile",
            "flask",
            "--secret-key",
            key,
            "--now",
            &now,
            cookie,
        ]);
        assert!(run.ok, "{}: {}", case["name"], run.stderr);
        let mut expected = case["data"].clone();
        if case["permanent"].as_bool().unwrap() {
            expected["_permanent"] = Value::Bool(true);
        }
        assert_eq!(json(&run.stdout), expected, "{}", case["name"]);
        let again = tessera(&[
            "cookie",
            "encode",
            "--profile",
            "flask",
            "--secret-key",
            key,
            "--timestamp",
            &now,
            &run.stdout,
        ]);
        assert_eq!(again.stdout, cookie, "{}", case["name"]);
    }
}

#[test]
fn django_cookies_and_records_decode_and_encode_byte_for_byte() {
    let g = golden();
    let key = g["django_secret"].as_str().unwrap();
    let now = g["now"].as_i64().unwrap().to_string();
    for case in g["django"].as_array().unwrap() {
        let cookie = case["signed_cookie"].as_str().unwrap();
        let run = tessera(&[
            "cookie",
            "decode",
            "--profile",
            "django",
            "--secret-key",
            key,
            "--now",
            &now,
            cookie,
        ]);
        assert!(run.ok, "{}", run.stderr);
        assert_eq!(json(&run.stdout), case["data"]);
        let again = tessera(&[
            "cookie",
            "encode",
            "--profile",
            "django",
            "--secret-key",
            key,
            "--timestamp",
            &now,
            &run.stdout,
        ]);
        assert_eq!(again.stdout, cookie);

        let record = case["session_data"].as_str().unwrap();
        let run = tessera(&[
            "record",
            "decode",
            "--profile",
            "django",
            "--secret-key",
            key,
            record,
        ]);
        assert!(run.ok, "{}", run.stderr);
        assert_eq!(json(&run.stdout), case["data"]);
        let again = tessera(&[
            "record",
            "encode",
            "--profile",
            "django",
            "--secret-key",
            key,
            "--timestamp",
            &now,
            &run.stdout,
        ]);
        assert_eq!(again.stdout, record);
    }
}

#[test]
fn flask_session_records_decode_and_encode_byte_for_byte() {
    let g = golden();
    for case in g["flask_session"]["records"].as_array().unwrap() {
        let b64 = case["record_b64"].as_str().unwrap();
        let run = tessera(&["record", "decode", "--profile", "flask-session", b64]);
        assert!(run.ok, "{}", run.stderr);
        let again = tessera(&[
            "record",
            "encode",
            "--profile",
            "flask-session",
            &run.stdout,
        ]);
        assert_eq!(again.stdout, b64, "{}", case["name"]);
    }
    let pickle = tessera(&[
        "record",
        "decode",
        "--profile",
        "flask-session",
        g["flask_session"]["pickle_b64"].as_str().unwrap(),
    ]);
    assert!(!pickle.ok);
    assert!(
        pickle.stderr.contains("pickle") && pickle.stderr.contains("before 0.7"),
        "{}",
        pickle.stderr
    );
}

#[test]
fn native_cookies_round_trip() {
    let key = "native-cli-secret-key-0123456789abcdefgh";
    for extra in [&[][..], &["--encrypted"][..], &["--compress"][..]] {
        let mut args = vec![
            "cookie",
            "encode",
            "--profile",
            "native",
            "--secret-key",
            key,
        ];
        args.extend_from_slice(extra);
        args.push(r#"{"user":"ada","n":[1,2]}"#);
        let cookie = tessera(&args);
        assert!(cookie.ok, "{}", cookie.stderr);
        let run = tessera(&[
            "cookie",
            "decode",
            "--profile",
            "native",
            "--secret-key",
            key,
            &cookie.stdout,
        ]);
        assert!(run.ok, "{}", run.stderr);
        assert_eq!(json(&run.stdout), json(r#"{"user":"ada","n":[1,2]}"#));
        let other_name = tessera(&[
            "cookie",
            "decode",
            "--profile",
            "native",
            "--secret-key",
            key,
            "--cookie-name",
            "other",
            &cookie.stdout,
        ]);
        assert!(!other_name.ok);
    }
}

/// tessera's own stored records: binary, or the JSON of earlier releases, shown as JSON; the
/// JSON shown encodes back to the same binary record.
#[test]
fn native_records_decode_and_encode() {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let record = r#"{"d":{"f":1.0,"user":"ada"},"e":"browser_close","x":1893456000,"u":"42"}"#;
    let encoded = tessera(&["record", "encode", "--profile", "native", record]);
    assert!(encoded.ok, "{}", encoded.stderr);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&encoded.stdout)
        .unwrap();
    assert_eq!(bytes[0], 0x01, "the binary record");
    for stored in [encoded.stdout.clone(), b64(record.as_bytes())] {
        let run = tessera(&["record", "decode", "--profile", "native", &stored]);
        assert!(run.ok, "{}", run.stderr);
        assert_eq!(run.stdout, record, "byte for byte, 1.0 still a float");
    }
    for bad in [
        &["record", "decode", "--profile", "native", "AQ=="][..],
        &[
            "record",
            "encode",
            "--profile",
            "native",
            r#"{"user":"ada"}"#,
        ],
    ] {
        let run = tessera(bad);
        assert!(
            !run.ok && run.stderr.lines().count() == 1,
            "{bad:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn native_encrypted_cookies_of_both_formats_decode() {
    // Sealed by tessera before XAES-256-GCM (XChaCha20-Poly1305), deadline 2100-01-01.
    let legacy = "_xH9zbptADdmLJUjea4TVI4zLYZJRFDGIoDAlA6U-fuvGB9PpJT3Zftd2GcDPU_4eTxrQu3EnswM1mSu_U5C5ZutSKvgJq475e3gN7SPIL89HoR00W8";
    let key = "native-cli-secret-key-0123456789abcdefgh";
    let decode = |value: &str, name: &str| {
        tessera(&[
            "cookie",
            "decode",
            "--profile",
            "native",
            "--secret-key",
            key,
            "--cookie-name",
            name,
            "--now",
            "1893456000",
            value,
        ])
    };
    let run = decode(legacy, "session");
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(json(&run.stdout), json(r#"{"user":"ada","n":[1,2]}"#));
    assert!(!decode(legacy, "other").ok);
    let current = tessera(&[
        "cookie",
        "encode",
        "--profile",
        "native",
        "--secret-key",
        key,
        "--encrypted",
        "--timestamp",
        "1893456000",
        r#"{"user":"ada","n":[1,2]}"#,
    ]);
    assert!(current.ok, "{}", current.stderr);
    let raw = URL_SAFE_NO_PAD.decode(&current.stdout).unwrap();
    assert_eq!(raw[0], 0x01, "encoded in the versioned XAES-256-GCM format");
    let run = decode(&current.stdout, "session");
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(json(&run.stdout), json(r#"{"user":"ada","n":[1,2]}"#));
}

#[test]
fn failures_are_one_line_and_non_zero() {
    let g = golden();
    let cookie = g["flask"][0]["cookie"].as_str().unwrap();
    let wrong = tessera(&[
        "cookie",
        "decode",
        "--profile",
        "flask",
        "--secret-key",
        "a-wrong-secret-key-of-at-least-32-bytes",
        cookie,
    ]);
    assert!(!wrong.ok);
    assert_eq!(wrong.stderr.lines().count(), 1, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("signature"), "{}", wrong.stderr);
    let expired = tessera(&[
        "cookie",
        "decode",
        "--profile",
        "flask",
        "--secret-key",
        g["flask_secret"].as_str().unwrap(),
        cookie,
    ]);
    assert!(!expired.ok);
    assert!(expired.stderr.contains("expired"), "{}", expired.stderr);
    let malformed = tessera(&[
        "cookie",
        "decode",
        "--profile",
        "django",
        "--secret-key",
        g["django_secret"].as_str().unwrap(),
        "not-a-cookie",
    ]);
    assert!(!malformed.ok);
    let short = tessera(&[
        "cookie",
        "decode",
        "--profile",
        "flask",
        "--secret-key",
        "short",
        cookie,
    ]);
    assert!(
        !short.ok && short.stderr.contains("at least 32 bytes"),
        "{}",
        short.stderr
    );
    let no_key = tessera(&["record", "decode", "--profile", "django", "x:y:z"]);
    assert!(
        !no_key.ok && no_key.stderr.contains("--secret-key"),
        "{}",
        no_key.stderr
    );
}

#[test]
fn help_shows_examples() {
    for cmd in [
        &["cookie", "decode"][..],
        &["cookie", "encode"],
        &["record", "decode"],
        &["record", "encode"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let run = tessera(&args);
        assert!(run.ok);
        assert!(run.stdout.contains("Example"), "{cmd:?}");
    }
}
