//! What every target shares: the golden vectors' secrets and clock, so the seeds in
//! `corpus/` (real Flask and Django output) verify and reach the decoders behind the MAC.
#![allow(dead_code)]

use tessera::crypto::{KeyRing, SecretKey};
use time::OffsetDateTime;

/// `golden.json`'s `flask_secret`, `django_secret` and `old_secret`.
pub const FLASK_SECRET: &str = "flask-golden-secret-key-0123456789abcdef";
pub const DJANGO_SECRET: &str = "django-golden-secret-key-0123456789abcdefghij";
pub const OLD_SECRET: &str = "an-older-secret-key-still-accepted-0123456";

/// `golden.json`'s `now`: when Flask and Django signed the vectors.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("in range")
}

/// `current`, then the golden fallback key.
pub fn ring(current: &str) -> KeyRing {
    KeyRing::new(SecretKey::new(current).expect("32+ bytes"))
        .with_fallback(SecretKey::new(OLD_SECRET).expect("32+ bytes"))
}

/// The first byte picks what the target does with the rest (see each target's docs).
pub fn mode(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(m, rest)| (*m, rest))
}
