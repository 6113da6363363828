//! The operators' side of the contract: listing a store ([`SessionStore::list`]), clearing it
//! in batches, and saying whether its server expires records itself.
//!
//! [`SessionStore::list`]: crate::store::SessionStore::list

use std::collections::HashMap;

use serde_json::json;
use time::Duration;

use super::cases::{advance, id, now, record, written};
use super::Harness;
use crate::store::{listing, Expected, Listed};
use crate::{Expiry, SessionId};

/// Saves `{"a": 1}` under `id`, due `lasting` after the harness's now.
async fn save_lasting(h: &Harness, id: &SessionId, lasting: Duration) {
    let r = record(json!({"a": 1}), Expiry::Default, now(h) + lasting);
    written(&h.store, id, &r, Expected::Absent).await;
}

/// Everything `list` yields, failing the case on an error.
async fn all(h: &Harness) -> Vec<Listed> {
    let mut listing = h.store.list();
    let mut out = Vec::new();
    while let Some(listed) = listing::next(&mut listing).await {
        out.push(listed.unwrap_or_else(|e| panic!("listing failed: {e}")));
    }
    out
}

/// The listed records among `ids`, by id; each id listed at most twice (a `SCAN` may repeat
/// one) and the copies alike.
fn found(listed: Vec<Listed>, ids: &[SessionId]) -> HashMap<SessionId, Listed> {
    let mut by_id: HashMap<SessionId, Listed> = HashMap::new();
    for l in listed {
        if !ids.contains(&l.id) {
            continue;
        }
        if let Some(seen) = by_id.get(&l.id) {
            assert_eq!(seen, &l, "a record listed twice must be listed alike");
        }
        by_id.insert(l.id.clone(), l);
    }
    by_id
}

/// `n` characters that no compressor shrinks below three quarters (Django's signed data is
/// zlib-compressed when that helps): a xorshift sequence over 64 symbols, 6 bits a character.
fn incompressible(n: usize) -> String {
    const SYMBOLS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(SYMBOLS[(state >> 58) as usize])
        })
        .collect()
}

/// Every record saved is listed, with its size and deadline and without its data.
pub async fn listing_shows_each_record_its_size_and_deadline(h: Harness) {
    let small = id(&h);
    let big = id(&h);
    let deadline = now(&h) + Duration::hours(2);
    written(
        &h.store,
        &small,
        &record(json!({"a": 1}), Expiry::Default, deadline),
        Expected::Absent,
    )
    .await;
    written(
        &h.store,
        &big,
        &record(
            json!({"blob": incompressible(30_000)}),
            Expiry::Default,
            deadline,
        ),
        Expected::Absent,
    )
    .await;
    let by_id = found(all(&h).await, &[small.clone(), big.clone()]);
    let (small, big) = (&by_id[&small], &by_id[&big]);
    assert!(small.size > 0, "a record takes some bytes");
    assert!(
        big.size >= 20_000 && big.size > small.size,
        "sizes are the stored bytes' (small {}, big {})",
        small.size,
        big.size
    );
    for l in [small, big] {
        let at = l.expires_at.expect("a deadline");
        // Servers that expire records count whole seconds on their own clock.
        let off = (at - deadline).whole_seconds().abs();
        assert!(off <= 2, "the listed deadline is {off} s off");
    }
}

/// A listing goes through every page: many records, each listed.
pub async fn listing_pages_through_many_records(h: Harness) {
    let ids: Vec<SessionId> = (0..600).map(|_| id(&h)).collect();
    let r = record(
        json!({"n": 1}),
        Expiry::Default,
        now(&h) + Duration::hours(1),
    );
    for id in &ids {
        written(&h.store, id, &r, Expected::Absent).await;
    }
    let by_id = found(all(&h).await, &ids);
    assert_eq!(by_id.len(), ids.len(), "every record listed");
}

/// A record past its deadline that the store still holds is listed, marked by its deadline,
/// and gone from the listing once cleared. Needs a clock (a server that expires records itself
/// holds none).
pub async fn listing_shows_expired_records_until_cleared(h: Harness) {
    if h.clock.is_none() {
        return;
    }
    let short = id(&h);
    let long = id(&h);
    save_lasting(&h, &short, Duration::seconds(10)).await;
    save_lasting(&h, &long, Duration::hours(1)).await;
    advance(&h, Duration::seconds(100));
    let at = now(&h);
    let ids = [short.clone(), long.clone()];
    let by_id = found(all(&h).await, &ids);
    assert!(by_id[&short].is_expired(at), "listed, and expired");
    assert!(!by_id[&long].is_expired(at));
    h.store.clear_expired().await.unwrap();
    let by_id = found(all(&h).await, &ids);
    assert!(
        !by_id.contains_key(&short),
        "cleared records are not listed"
    );
    assert!(by_id.contains_key(&long));
}

/// `clear_expired_in_batches` removes what `clear_expired` would, reporting a running total
/// that only grows and ends at the total; a store whose server expires records removes none.
pub async fn clear_expired_in_batches_reports_progress(h: Harness) {
    assert_eq!(
        h.store.server_expires(),
        h.server_expires,
        "the store says whether its server expires records"
    );
    let mut totals = Vec::new();
    if h.clock.is_none() {
        let removed = h
            .store
            .clear_expired_in_batches(&mut |n| totals.push(n))
            .await
            .unwrap();
        assert_eq!(removed, 0);
        return;
    }
    for _ in 0..5 {
        save_lasting(&h, &id(&h), Duration::seconds(10)).await;
    }
    let kept = id(&h);
    save_lasting(&h, &kept, Duration::hours(1)).await;
    advance(&h, Duration::seconds(100));
    let removed = h
        .store
        .clear_expired_in_batches(&mut |n| totals.push(n))
        .await
        .unwrap();
    let expected = if h.server_expires { 0 } else { 5 };
    assert_eq!(removed, expected);
    assert!(!totals.is_empty(), "progress is reported");
    assert!(
        totals.windows(2).all(|w| w[0] <= w[1]),
        "a running total: {totals:?}"
    );
    assert_eq!(totals.last(), Some(&removed));
    assert!(
        h.store.load(&kept).await.unwrap().is_some(),
        "live records stay"
    );
}
