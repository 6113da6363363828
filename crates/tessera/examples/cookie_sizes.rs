//! Prints the `Set-Cookie` value sizes of a typical session in each cookie format.
//!
//! ```text
//! cargo run -p tessera --example cookie_sizes
//! ```

use tessera::cookie_session::{CookieCodec, CookieFormat, NativeCookieCodec};
use tessera::crypto::{KeyRing, Purpose, SecretKey, Signer};
use tessera::{Data, Expiry, Record, SessionId};
use time::{Duration, OffsetDateTime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys = KeyRing::new(SecretKey::generate()?);
    let mut data = Data::new();
    data.insert("user_id".into(), 1_234_567.into());
    data.insert("user".into(), "ada@example.com".into());
    data.insert("csrf_token".into(), SessionId::generate()?.expose().into());
    data.insert("roles".into(), serde_json::json!(["admin", "editor"]));
    data.insert("_fresh".into(), true.into());
    let now = OffsetDateTime::now_utc();
    let record = Record::new(data, Expiry::Default, now + Duration::days(31));
    println!(
        "typical session: {} bytes of JSON (what signed cookies carry), {} as the binary record (what encrypted cookies carry)",
        record.encode_json().len(),
        record.encode().len()
    );
    println!("| format | cookie value bytes |");
    println!("|---|---|");
    let id = SessionId::generate()?;
    let signer = Signer::new(&keys, Purpose::IdCookie);
    println!(
        "| signed id (server-side store) | {} |",
        signer.sign("session", id.expose()).len()
    );
    for (name, format, compress) in [
        ("signed", CookieFormat::Signed, false),
        ("signed + deflate", CookieFormat::Signed, true),
        ("encrypted", CookieFormat::Encrypted, false),
        ("encrypted + deflate", CookieFormat::Encrypted, true),
    ] {
        let value =
            NativeCookieCodec::new(format, &keys, compress).encode("session", &record, now)?;
        println!("| {name} | {} |", value.len());
    }
    Ok(())
}
