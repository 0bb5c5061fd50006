//! The connection the cache and the rate limit send their commands on: one server's (a fixed
//! server, or the master the Sentinels name) or a Redis Cluster's. Which server that is, and
//! following it, is `master`'s; what to send is `store`'s and `ratelimit`'s.
//!
//! An enum rather than a trait object: one `match` per command, and the single server's path
//! stays the `ConnectionManager` it always was.
//!
//! On a cluster, redis-rs's `ClusterConnection` routes each command to the master of its
//! key's slot, follows `MOVED` (refreshing its slot map) and `ASK` (a slot being migrated),
//! and reconnects by itself. A script (`EVAL`/`EVALSHA`) goes to its first key's slot, and
//! every key it touches must live in that slot: the cache's keys carry a hash tag for that
//! (`keys::redis_name`). A pipeline goes whole to its first command's slot and is refused
//! (`CROSSSLOT`) when its commands' keys span slots, so `store` sends one pipeline per key
//! there.

use std::collections::HashMap;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Pipeline, RedisFuture, Value};

#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(conn) => conn.req_packed_commands(cmd, offset, count),
            Conn::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(conn) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
        }
    }
}

/// A node of a cluster as `CLUSTER NODES` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub id: String,
    pub host: String,
    pub port: u16,
    pub master: bool,
    /// Flagged `fail` (or `fail?`) by the node asked.
    pub failing: bool,
    /// The slot ranges it serves, first and last slot included.
    pub slots: Vec<(u16, u16)>,
}

impl Node {
    /// Serves at least one slot.
    pub fn serving(&self) -> bool {
        !self.slots.is_empty()
    }

    /// `host:port`, as the breaker and the purge name a master.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Parses `CLUSTER NODES`: `<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent>
/// <pong-recv> <config-epoch> <link-state> <slot> ...`, one node a line.
pub(crate) fn parse_nodes(text: &str) -> Vec<Node> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (id, addr, flags) = (fields.first()?, fields.get(1)?, fields.get(2)?);
            let addr = addr.split(['@', ',']).next()?;
            let (host, port) = addr.rsplit_once(':')?;
            let flags: Vec<&str> = flags.split(',').collect();
            Some(Node {
                id: (*id).to_owned(),
                host: host.to_owned(),
                port: port.parse().ok()?,
                master: flags.contains(&"master"),
                failing: flags.iter().any(|f| f.starts_with("fail")),
                // Slot ranges (`0-5460`, `5461`), not the `[slot->-id]` migration markers.
                slots: fields
                    .iter()
                    .skip(8)
                    .filter_map(|range| match range.split_once('-') {
                        _ if range.starts_with('[') => None,
                        Some((first, last)) => Some((first.parse().ok()?, last.parse().ok()?)),
                        None => range.parse().ok().map(|slot| (slot, slot)),
                    })
                    .collect(),
            })
        })
        .collect()
}

/// The cluster's nodes, as a node chosen by redis-rs sees them.
pub(crate) async fn cluster_nodes(conn: &mut ClusterConnection) -> redis::RedisResult<Vec<Node>> {
    let reply = conn
        .route_command(
            redis::cmd("CLUSTER").arg("NODES"),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
        )
        .await?;
    let text: String = redis::from_redis_value(&reply)?;
    Ok(parse_nodes(&text))
}

/// `cmd` on the node at `address`, `host:port` as [`Node::address`] writes it (a master,
/// for a `SCAN` of its keys).
pub(crate) async fn on_node(
    conn: &mut ClusterConnection,
    cmd: &Cmd,
    address: &str,
) -> redis::RedisResult<Value> {
    let parsed = address
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)));
    let Some((host, port)) = parsed else {
        return Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "not a host:port node address",
            address.to_owned(),
        )));
    };
    conn.route_command(
        cmd,
        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
            host: host.to_owned(),
            port,
        }),
    )
    .await
}

/// The texts of an `INFO` reply: one server's, or on a cluster one per master (redis-rs sends
/// `INFO` to every master and answers a map of address to text).
pub(crate) fn info_texts(reply: &Value) -> redis::RedisResult<Vec<String>> {
    match redis::from_redis_value::<String>(reply) {
        Ok(text) => Ok(vec![text]),
        Err(_) => Ok(redis::from_redis_value::<HashMap<String, String>>(reply)?
            .into_values()
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_are_parsed() {
        let text = "\
07c3 127.0.0.1:30004@31004,host-4 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
e7d1 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [5461->-67ed]
9a0b 127.0.0.1:30007@31007 master,fail - 0 0 7 disconnected
";
        let nodes = parse_nodes(text);
        assert_eq!(nodes.len(), 4);
        assert_eq!(
            nodes[0],
            Node {
                id: "07c3".into(),
                host: "127.0.0.1".into(),
                port: 30004,
                master: false,
                failing: false,
                slots: Vec::new(),
            }
        );
        assert!(nodes[1].master && nodes[1].serving() && !nodes[1].failing);
        assert_eq!(nodes[1].slots, [(5461, 10922)]);
        assert!(nodes[2].master && nodes[2].serving());
        assert_eq!(nodes[2].slots, [(0, 5460)], "not the slot it is migrating");
        assert!(nodes[3].master && nodes[3].failing && !nodes[3].serving());
    }

    #[test]
    fn info_of_one_server_or_of_every_master() {
        let one = Value::BulkString(b"used_memory:10\r\n".to_vec());
        assert_eq!(info_texts(&one).expect("text"), ["used_memory:10\r\n"]);
        let many = Value::Map(vec![
            (
                Value::SimpleString("127.0.0.1:1".into()),
                Value::VerbatimString {
                    format: redis::VerbatimFormat::Text,
                    text: "used_memory:1".into(),
                },
            ),
            (
                Value::SimpleString("127.0.0.1:2".into()),
                Value::BulkString(b"used_memory:2".to_vec()),
            ),
        ]);
        let mut texts = info_texts(&many).expect("texts");
        texts.sort();
        assert_eq!(texts, ["used_memory:1", "used_memory:2"]);
    }
}
