//! The per-user index's own contract ([`UserIndex`](crate::store::UserIndex)), for stores that
//! keep one: entries by user, `until` only ever moving later, expiry, pruning by the store's
//! `clear_expired`, and two app servers entering at once.
//!
//! A store that keeps no index skips these cases (`except user_index_…`) and asserts its
//! refusal in a test of its own.

use std::collections::HashSet;
use std::time::Duration as StdDuration;

use time::Duration;

use super::cases::{advance, id, now};
use super::Harness;
use crate::store::{Error, UserIndex};
use crate::SessionId;

/// The store's index; `None`, once its refusal is checked, for a store that keeps none.
fn index(h: &Harness) -> Option<&dyn UserIndex> {
    if !h.user_index {
        match h.store.user_index() {
            Err(Error::Unsupported { .. }) => return None,
            Err(e) => panic!("a store without a user index must refuse as unsupported: {e}"),
            Ok(_) => panic!("the harness says the store keeps no user index, but it has one"),
        }
    }
    Some(
        h.store
            .user_index()
            .unwrap_or_else(|e| panic!("the store keeps no user index: {e}")),
    )
}

/// A user name no other case or run uses, with a character a key format might trip on.
fn user(tag: &str) -> String {
    format!("{tag} ü:{}", id_suffix())
}

fn id_suffix() -> String {
    crate::SessionId::generate().unwrap().expose()[..12].to_owned()
}

fn set(ids: Vec<SessionId>) -> HashSet<SessionId> {
    let n = ids.len();
    let set: HashSet<SessionId> = ids.into_iter().collect();
    assert_eq!(set.len(), n, "entries lists each id once");
    set
}

/// Entries are kept by user: each user sees their own ids, once however often entered, and a
/// removal takes only the ids it names.
pub async fn user_index_keeps_entries_by_user(h: Harness) {
    let Some(index) = index(&h) else { return };
    let (ada, bob) = (user("ada"), user("bob"));
    let until = now(&h) + Duration::hours(1);
    let mine: Vec<SessionId> = (0..3).map(|_| id(&h)).collect();
    let theirs = id(&h);
    for i in &mine {
        index.enter(&ada, i, until).await.unwrap();
    }
    index.enter(&ada, &mine[0], until).await.unwrap();
    index.enter(&bob, &theirs, until).await.unwrap();
    assert_eq!(
        set(index.entries(&ada).await.unwrap()),
        mine.iter().cloned().collect()
    );
    assert_eq!(
        set(index.entries(&bob).await.unwrap()),
        [theirs.clone()].into()
    );
    assert!(index.entries(&user("nobody")).await.unwrap().is_empty());
    index
        .remove(&ada, &[mine[1].clone(), theirs.clone()])
        .await
        .unwrap();
    assert_eq!(
        set(index.entries(&ada).await.unwrap()),
        [mine[0].clone(), mine[2].clone()].into(),
        "remove takes only the named ids of the named user"
    );
    assert_eq!(
        set(index.entries(&bob).await.unwrap()),
        [theirs.clone()].into()
    );
    index.remove(&ada, &mine).await.unwrap();
    index.remove(&ada, &mine).await.unwrap();
    assert!(index.entries(&ada).await.unwrap().is_empty());
}

/// An entry lasts until its latest `until`: entering it again with an earlier one does not
/// shorten it, and it is gone once that has passed (by the injected clock, or the server's).
pub async fn user_index_entries_last_until_their_latest_deadline(h: Harness) {
    let Some(index) = index(&h) else { return };
    let ada = user("ada");
    let (short, long) = (id(&h), id(&h));
    // `short` for `s` seconds, `long` for 600 and then again for `again`, a shorter while.
    let (h, ada, short, long) = (&h, &ada, &short, &long);
    let enter_three = |s: i64, again: i64| async move {
        for (id, secs) in [(short, s), (long, 600), (long, again)] {
            index
                .enter(ada, id, now(h) + Duration::seconds(secs))
                .await
                .unwrap();
        }
    };
    if h.clock.is_some() {
        enter_three(60, 30).await;
        advance(h, Duration::seconds(61));
        assert_eq!(
            set(index.entries(ada).await.unwrap()),
            [long.clone()].into(),
            "an entry past its until is not listed; a later until is never shortened"
        );
        advance(h, Duration::seconds(600));
        assert!(index.entries(ada).await.unwrap().is_empty());
    } else {
        // The server keeps its own time: watch it drop the short entry (bounded).
        enter_three(2, 1).await;
        let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
        loop {
            let entries = set(index.entries(ada).await.unwrap());
            assert!(entries.contains(long), "a later until is never shortened");
            if !entries.contains(short) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "an entry outlived its until"
            );
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        index.remove(ada, std::slice::from_ref(long)).await.unwrap();
    }
}

/// The store's `clear_expired` prunes the index too: the entries it leaves are live ones
/// (a store whose server expires entries has nothing to prune and skips the check).
pub async fn user_index_is_pruned_by_clear_expired(h: Harness) {
    let Some(index) = index(&h) else { return };
    if h.clock.is_none() || h.server_expires {
        return;
    }
    let ada = user("ada");
    let (gone, kept) = (id(&h), id(&h));
    index
        .enter(&ada, &gone, now(&h) + Duration::seconds(60))
        .await
        .unwrap();
    index
        .enter(&ada, &kept, now(&h) + Duration::hours(1))
        .await
        .unwrap();
    advance(&h, Duration::seconds(61));
    h.store.clear_expired().await.unwrap();
    assert_eq!(
        index.clear_expired().await.unwrap(),
        0,
        "the store's clear_expired left expired index entries behind"
    );
    assert_eq!(set(index.entries(&ada).await.unwrap()), [kept].into());
}

/// Two app servers entering sessions of one user at once lose none of them.
pub async fn user_index_two_servers_enter_at_once(h: Harness) {
    let Some(index) = index(&h) else { return };
    let ada = user("ada");
    let until = now(&h) + Duration::hours(1);
    let ids: Vec<SessionId> = (0..40).map(|_| id(&h)).collect();
    let enter = |store: crate::store::SharedStore, ids: Vec<SessionId>, ada: String| {
        tokio::spawn(async move {
            let index = store.user_index().unwrap();
            for id in &ids {
                index.enter(&ada, id, until).await.unwrap();
            }
        })
    };
    let a = enter(h.store.clone(), ids[..20].to_vec(), ada.clone());
    let b = enter(h.peer.clone(), ids[20..].to_vec(), ada.clone());
    a.await.unwrap();
    b.await.unwrap();
    assert_eq!(
        set(index.entries(&ada).await.unwrap()),
        ids.iter().cloned().collect(),
        "entries entered at once by two app servers were lost"
    );
    index.remove(&ada, &ids).await.unwrap();
}
