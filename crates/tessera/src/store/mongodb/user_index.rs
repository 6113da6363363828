//! [`MongoStore`](super::MongoStore)'s index of sessions by user: the collection
//! `<sessions collection>_users` beside the sessions, one document per entry.
//!
//! `{user, session, until}`: the user name as given (a BSON string compared as a value, so no
//! name can inject an operator), the session's key (key prefix + id, so stores with different
//! prefixes sharing a collection keep apart), and the deadline as a BSON date rounded up to
//! the millisecond. `migrate` creates a unique index on `(user, session)`, an index on `user`
//! and a TTL index on `until` (`expireAfterSeconds: 0`).
//!
//! `enter` reads the entry and then inserts it, or replaces it only where `until` is still
//! what it read, retrying on a lost race: never `$max`, which MongoDB-compatible servers do
//! not all apply to dates (nx-27017 leaves the field as it was), and whole documents, which
//! keep `until` a date where `$set` may turn it into text.

use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use time::OffsetDateTime;

use super::{bounded, is_duplicate};
use crate::clock::SharedClock;
use crate::id::SessionId;
use crate::store::{Error, UserIndex};

/// The suffix of the index's collection name.
pub(super) const SUFFIX: &str = "_users";
/// The name of the unique index on `(user, session)`.
const ENTRY_INDEX: &str = "tessera_user_session_unique";
/// The name of the index on `user`.
const USER_INDEX: &str = "tessera_user";
/// The name of the TTL index on `until`.
const UNTIL_TTL_INDEX: &str = "tessera_until_ttl";

/// The index; see [the module](self).
#[derive(Debug, Clone)]
pub(super) struct MongoUserIndex {
    collection: Collection<Document>,
    key_prefix: String,
    clock: SharedClock,
    timeout: Duration,
}

/// `at` as a BSON date, rounded up to the millisecond so an entry never ends before its
/// session.
fn date_up(at: OffsetDateTime) -> DateTime {
    let nanos = at.unix_timestamp_nanos();
    let millis = nanos.div_euclid(1_000_000) + i128::from(nanos.rem_euclid(1_000_000) > 0);
    DateTime::from_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

impl MongoUserIndex {
    pub(super) fn new(
        collection: Collection<Document>,
        key_prefix: String,
        clock: SharedClock,
        timeout: Duration,
    ) -> Self {
        Self {
            collection,
            key_prefix,
            clock,
            timeout,
        }
    }

    /// The index's collection.
    pub(super) fn collection(&self) -> &Collection<Document> {
        &self.collection
    }

    /// Creates the index's indexes if missing. Idempotent.
    pub(super) async fn migrate(&self) -> Result<(), Error> {
        let entry = IndexModel::builder()
            .keys(doc! { "user": 1, "session": 1 })
            .options(
                IndexOptions::builder()
                    .name(ENTRY_INDEX.to_owned())
                    .unique(true)
                    .build(),
            )
            .build();
        let user = IndexModel::builder()
            .keys(doc! { "user": 1 })
            .options(IndexOptions::builder().name(USER_INDEX.to_owned()).build())
            .build();
        let ttl = IndexModel::builder()
            .keys(doc! { "until": 1 })
            .options(
                IndexOptions::builder()
                    .name(UNTIL_TTL_INDEX.to_owned())
                    .expire_after(Duration::ZERO)
                    .build(),
            )
            .build();
        bounded("migrate the user index", self.timeout, async {
            self.collection.create_indexes([entry, user, ttl]).await
        })
        .await?;
        Ok(())
    }

    fn key(&self, id: &SessionId) -> String {
        format!("{}{}", self.key_prefix, id.expose())
    }

    /// The store's time to the millisecond (rounded down: an entry is live while `until` is
    /// later).
    fn now(&self) -> DateTime {
        let millis = self
            .clock
            .now()
            .unix_timestamp_nanos()
            .div_euclid(1_000_000);
        DateTime::from_millis(i64::try_from(millis).unwrap_or(i64::MAX))
    }

    /// One attempt at moving the entry's `until` to `until`: `false` if a concurrent writer
    /// got there first and the caller should look again.
    async fn try_enter(&self, user: &str, key: &str, until: DateTime) -> Result<bool, Error> {
        const OP: &str = "enter a session in the user index";
        let filter = doc! { "user": user, "session": key };
        let found = bounded(OP, self.timeout, async {
            self.collection.find_one(filter.clone()).await
        })
        .await?;
        let entry = doc! { "user": user, "session": key, "until": until };
        let Some(found) = found else {
            return match bounded(OP, self.timeout, async {
                self.collection.insert_one(entry).await
            })
            .await
            {
                Ok(_) => Ok(true),
                Err(e) if is_duplicate(&e) => Ok(false),
                Err(e) => Err(e),
            };
        };
        let kept = found.get("until").cloned().unwrap_or(Bson::Null);
        if matches!(kept, Bson::DateTime(kept) if kept >= until) {
            return Ok(true);
        }
        let mut unchanged = filter;
        unchanged.insert("until", kept);
        let replaced = bounded(OP, self.timeout, async {
            self.collection.replace_one(unchanged, entry).await
        })
        .await?;
        Ok(replaced.matched_count == 1)
    }
}

#[async_trait]
impl UserIndex for MongoUserIndex {
    async fn enter(&self, user: &str, id: &SessionId, until: OffsetDateTime) -> Result<(), Error> {
        let (key, until) = (self.key(id), date_up(until));
        let attempts = async {
            while !self.try_enter(user, &key, until).await? {}
            Ok(())
        };
        match tokio::time::timeout(self.timeout, attempts).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                op: "enter a session in the user index",
                after: self.timeout,
            }),
        }
    }

    async fn entries(&self, user: &str) -> Result<Vec<SessionId>, Error> {
        const OP: &str = "read the user index";
        let filter = doc! { "user": user, "until": { "$gt": self.now() } };
        let read = async {
            let mut cursor = self.collection.find(filter).await?;
            let mut ids = Vec::new();
            while cursor.advance().await? {
                let doc = cursor.deserialize_current()?;
                let id = doc
                    .get_str("session")
                    .ok()
                    .and_then(|key| key.strip_prefix(self.key_prefix.as_str()))
                    .and_then(|id| SessionId::parse(id).ok());
                // Another prefix's entry, or not one tessera wrote.
                if let Some(id) = id {
                    ids.push(id);
                }
            }
            Ok(ids)
        };
        let mut ids: Vec<SessionId> = bounded(OP, self.timeout, read).await?;
        // Each once, even on a server that does not enforce the unique index.
        ids.sort_by(|a, b| a.expose().cmp(b.expose()));
        ids.dedup();
        Ok(ids)
    }

    async fn remove(&self, user: &str, ids: &[SessionId]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key(id)).collect();
        let filter = doc! { "user": user, "session": { "$in": keys } };
        bounded("remove from the user index", self.timeout, async {
            self.collection.delete_many(filter).await
        })
        .await?;
        Ok(())
    }

    /// The TTL monitor runs only once a minute or so, and by the server's clock: this
    /// deletes what has expired by the store's.
    async fn clear_expired(&self) -> Result<u64, Error> {
        let filter = doc! { "until": { "$lte": self.now() } };
        let deleted = bounded("clear the user index", self.timeout, async {
            self.collection.delete_many(filter).await
        })
        .await?;
        Ok(deleted.deleted_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_the_millisecond() {
        let at = OffsetDateTime::from_unix_timestamp(100).unwrap();
        assert_eq!(date_up(at).timestamp_millis(), 100_000);
        assert_eq!(
            date_up(at + time::Duration::microseconds(1)).timestamp_millis(),
            100_001
        );
    }
}
