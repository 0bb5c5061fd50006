//! Which master of a Redis Cluster holds a key: the key's slot (CRC16 of its hash tag, as
//! Redis computes it) and the slot map last read from `CLUSTER NODES`. The breaker and the
//! purge use it to act on one master instead of the whole cluster. redis-rs keeps its own
//! slot function and map private, hence this small copy.

use std::sync::Arc;

use crate::conn::Node;

/// Slots in a Redis Cluster.
const SLOTS: u16 = 16_384;

/// The slot of the key named `name`: only the text inside its first `{...}`, if not empty,
/// is hashed (the cluster specification's hash tag rule).
pub(crate) fn slot_of(name: &str) -> u16 {
    let bytes = name.as_bytes();
    let hashed = match bytes.iter().position(|&b| b == b'{') {
        Some(open) => match bytes[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &bytes[open + 1..open + 1 + len],
            _ => bytes,
        },
        None => bytes,
    };
    crc16::State::<crc16::XMODEM>::calculate(hashed) % SLOTS
}

/// The master serving each slot, by address (`host:port`).
#[derive(Debug)]
pub(crate) struct SlotMap {
    masters: Vec<Arc<str>>,
    /// Index into `masters` per slot; `u16::MAX`: no master serves it.
    owners: Box<[u16]>,
}

impl SlotMap {
    /// The map the nodes describe. A master flagged failing still owns its slots until its
    /// replica takes them over: its keys are the ones that fail meanwhile.
    pub(crate) fn from_nodes(nodes: &[Node]) -> SlotMap {
        let mut masters = Vec::new();
        let mut owners = vec![u16::MAX; usize::from(SLOTS)].into_boxed_slice();
        for node in nodes.iter().filter(|n| n.master && n.serving()) {
            let Ok(index) = u16::try_from(masters.len()) else {
                break;
            };
            masters.push(Arc::from(node.address()));
            for &(first, last) in &node.slots {
                for slot in first..=last.min(SLOTS - 1) {
                    owners[usize::from(slot)] = index;
                }
            }
        }
        SlotMap { masters, owners }
    }

    /// The master serving the key named `name`, if the map knows one.
    pub(crate) fn owner(&self, name: &str) -> Option<&Arc<str>> {
        let index = self.owners[usize::from(slot_of(name))];
        self.masters.get(usize::from(index))
    }

    /// Every master that serves slots.
    pub(crate) fn masters(&self) -> &[Arc<str>] {
        &self.masters
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::parse_nodes;

    #[test]
    fn slots_are_the_ones_redis_computes() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.
        assert_eq!(slot_of("foo"), 12182);
        assert_eq!(slot_of("bar"), 5061);
        assert_eq!(slot_of("{user1000}.following"), slot_of("user1000"));
        assert_eq!(slot_of("{user1000}.followers"), slot_of("user1000"));
        // An empty tag hashes the whole name; only the first tag counts.
        assert_eq!(slot_of("foo{}{bar}"), {
            let whole = crc16::State::<crc16::XMODEM>::calculate(b"foo{}{bar}");
            whole % 16_384
        });
        assert_eq!(slot_of("foo{{bar}}zap"), slot_of("{bar"));
        assert_eq!(slot_of("ims:{product:1}#v"), slot_of("product:1"));
    }

    #[test]
    fn each_key_has_the_master_serving_its_slot() {
        let nodes = parse_nodes(
            "\
a 127.0.0.1:1@2 master - 0 0 1 connected 0-12181 12183-16383
b 127.0.0.1:3@4 master,fail? - 0 0 2 connected 12182
c 127.0.0.1:5@6 slave b 0 0 2 connected
",
        );
        let map = SlotMap::from_nodes(&nodes);
        assert_eq!(map.owner("foo").map(|m| &**m), Some("127.0.0.1:3"));
        assert_eq!(map.owner("bar").map(|m| &**m), Some("127.0.0.1:1"));
        assert_eq!(map.masters().len(), 2);
        let empty = SlotMap::from_nodes(&[]);
        assert_eq!(empty.owner("foo"), None);
    }
}
