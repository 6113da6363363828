//! Listing a [`RedisStore`]: `SCAN` over the server (over every master of a cluster), one
//! pipelined round trip per page for the values' sizes and TTLs.

use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, Value};
use time::OffsetDateTime;

use super::{bounded, Connection, RedisStore};
use crate::id::SessionId;
use crate::store::{Error, Listed, Listing};

/// How many keys `SCAN` is asked for at a time (a hint: Redis may return more or fewer).
const PAGE: usize = 200;

/// Where a `SCAN` runs: the one server, or the master serving a slot of a cluster (routing by a
/// slot, not by address, finds the node however the cluster announces it).
#[derive(Debug, Clone, Copy)]
enum Node {
    Single,
    Master(u16),
}

/// `prefix` with `SCAN MATCH`'s glob metacharacters escaped, so it matches only itself.
pub(super) fn glob_escape(prefix: &str) -> String {
    let mut escaped = String::with_capacity(prefix.len() + 4);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// A deadline from the server's time (`TIME`: seconds, microseconds) and a key's `PTTL`,
/// rounded to the whole second as [`RedisStore::load`](crate::store::SessionStore::load)
/// reports it; `None` for a key without a TTL.
fn deadline(seconds: i64, micros: i64, pttl: i64) -> Option<OffsetDateTime> {
    if pttl < 0 {
        return None;
    }
    let ms = seconds
        .saturating_mul(1000)
        .saturating_add(micros / 1000)
        .saturating_add(pttl);
    OffsetDateTime::from_unix_timestamp(ms.saturating_add(500) / 1000).ok()
}

fn int(value: &Value) -> Option<i64> {
    redis::from_redis_value_ref(value).ok()
}

impl RedisStore {
    /// What [`SessionStore::list`](crate::store::SessionStore::list) yields for this store.
    pub(super) fn listing(&self) -> Listing<'_> {
        Box::pin(async_stream::try_stream! {
            let pattern = format!("{}*", glob_escape(&self.prefix));
            for node in self.nodes().await? {
                let mut cursor: u64 = 0;
                loop {
                    let mut scan = redis::cmd("SCAN");
                    scan.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(PAGE);
                    let (next, keys): (u64, Vec<Vec<u8>>) = redis::from_redis_value(
                        self.on_node(node, scan).await?,
                    )
                    .map_err(|e| Error::unavailable("list", e))?;
                    for listed in self.details(node, keys).await? {
                        yield listed;
                    }
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
        })
    }

    /// The nodes to scan: the server, or one slot of each cluster master that serves any
    /// (`CLUSTER SLOTS`; a master without slots holds no keys).
    async fn nodes(&self) -> Result<Vec<Node>, Error> {
        let Connection::Cluster(connection) = &self.connection else {
            return Ok(vec![Node::Single]);
        };
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("SLOTS");
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary);
        let reply = bounded(
            "list",
            self.timeout,
            connection.clone().route_command(cmd, routing),
        )
        .await?;
        let ranges: Vec<Vec<Value>> =
            redis::from_redis_value(reply).map_err(|e| Error::unavailable("list", e))?;
        let mut masters: Vec<(Vec<Value>, u16)> = Vec::new();
        for range in ranges {
            // [start, end, [host, port, id, …], replicas…]
            let (Some(start), Some(Value::Array(master))) = (range.first(), range.get(2)) else {
                continue;
            };
            let Some(start) = int(start).and_then(|s| u16::try_from(s).ok()) else {
                continue;
            };
            // Nodes are told apart by id, or by address where the server sends none.
            let name: Vec<Value> = master.iter().take(3).cloned().collect();
            if !masters.iter().any(|(seen, _)| *seen == name) {
                masters.push((name, start));
            }
        }
        Ok(masters
            .into_iter()
            .map(|(_, slot)| Node::Master(slot))
            .collect())
    }

    /// Runs `cmd` on `node`.
    async fn on_node(&self, node: Node, cmd: Cmd) -> Result<Value, Error> {
        match (&self.connection, node) {
            (Connection::Single(c), _) => {
                bounded("list", self.timeout, cmd.query_async(&mut c.clone())).await
            }
            (Connection::Cluster(c), Node::Master(slot)) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                    Route::new(slot, SlotAddr::Master),
                ));
                bounded("list", self.timeout, c.clone().route_command(cmd, routing)).await
            }
            (Connection::Cluster(_), Node::Single) => Err(Error::unavailable(
                "list",
                "a cluster's keys are scanned node by node",
            )),
        }
    }

    /// The listed records among `keys` (one `SCAN` page, all on `node`): one pipeline of the
    /// server's `TIME`, then `STRLEN` and `PTTL` of each key. Keys that are not a session's
    /// (an id this store would not take, or not a string) and keys gone since the scan are
    /// left out.
    async fn details(&self, node: Node, keys: Vec<Vec<u8>>) -> Result<Vec<Listed>, Error> {
        let ids: Vec<(Vec<u8>, SessionId)> = keys
            .into_iter()
            .filter_map(|key| {
                let id = std::str::from_utf8(&key)
                    .ok()?
                    .strip_prefix(&self.prefix)
                    .and_then(|id| SessionId::parse(id).ok())
                    .filter(|id| self.codec.accepts_id(id))?;
                Some((key, id))
            })
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = Pipeline::with_capacity(1 + 2 * ids.len());
        // A key of another type under the prefix fails its STRLEN alone, not the page.
        pipe.ignore_errors();
        pipe.cmd("TIME");
        for (key, _) in &ids {
            pipe.cmd("STRLEN").arg(key).cmd("PTTL").arg(key);
        }
        let count = 1 + 2 * ids.len();
        let values: Vec<Value> = match (&self.connection, node) {
            (Connection::Single(c), _) => {
                bounded("list", self.timeout, pipe.query_async(&mut c.clone())).await?
            }
            (Connection::Cluster(c), Node::Master(slot)) => {
                let route = SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master));
                bounded(
                    "list",
                    self.timeout,
                    c.clone().route_pipeline(pipe, 0, count, route),
                )
                .await?
            }
            (Connection::Cluster(_), Node::Single) => Vec::new(),
        };
        let mut values = values.into_iter();
        let (seconds, micros) = match values.next() {
            Some(time) => redis::from_redis_value::<(i64, i64)>(time)
                .map_err(|e| Error::unavailable("list", e))?,
            None => return Err(Error::unavailable("list", "Redis answered no TIME")),
        };
        let mut listed = Vec::with_capacity(ids.len());
        for (_, id) in ids {
            let (Some(size), Some(pttl)) = (values.next(), values.next()) else {
                break;
            };
            let (Some(size), Some(pttl)) = (int(&size), int(&pttl)) else {
                continue;
            };
            // -2: the key is gone (expired or deleted since the scan).
            if pttl == -2 {
                continue;
            }
            listed.push(Listed::new(
                id,
                u64::try_from(size).unwrap_or(0),
                deadline(seconds, micros, pttl),
            ));
        }
        Ok(listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_only_themselves() {
        assert_eq!(glob_escape("session:"), "session:");
        assert_eq!(glob_escape(r"a*b?c[d]e\f"), r"a\*b\?c\[d\]e\\f");
    }

    #[test]
    fn deadlines_are_the_servers_time_plus_the_ttl() {
        assert_eq!(deadline(100, 0, -1), None);
        let at = deadline(1_700_000_000, 400_000, 59_700).unwrap();
        assert_eq!(at.unix_timestamp(), 1_700_000_060);
    }
}
