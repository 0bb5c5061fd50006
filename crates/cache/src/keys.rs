//! The cache's key names and time-to-live, in one place. Every cached value lives in a Redis
//! hash under its key (`product:{id}`, `store:{id}:inventory`, ...); the hash field names the variant (a query, a caller's scope), so
//! deleting the key forgets every variant at once.
//!
//! In Redis such a key is written inside braces, after the prefix ([`redis_name`]:
//! `{product:<id>}`), and the keys kept beside it (its versions, its newest value's sequence,
//! its groups' indexes: `{product:<id>}#v`, `{product:<id>}#v#seq`, ...) start with the same
//! braces. The braces are a Redis Cluster hash tag: only the text inside them picks the slot,
//! so a key and everything the scripts touch with it live in one slot, which a script on a
//! cluster needs. A single server or a Sentinel-managed master ignores them: the names are the
//! same in every mode.

use std::time::Duration;

use bytes::Bytes;
use domain::ids::{CategoryId, CustomerId, OrderId, ProductId, StoreId, UserId};

/// What a key caches, for the hit and miss counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheType {
    Products,
    Users,
    Orders,
    Categories,
    Inventory,
    Dashboard,
}

impl CacheType {
    pub const ALL: [CacheType; 6] = [
        CacheType::Products,
        CacheType::Users,
        CacheType::Orders,
        CacheType::Categories,
        CacheType::Inventory,
        CacheType::Dashboard,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CacheType::Products => "products",
            CacheType::Users => "users",
            CacheType::Orders => "orders",
            CacheType::Categories => "categories",
            CacheType::Inventory => "inventory",
            CacheType::Dashboard => "dashboard",
        }
    }

    /// The contract's time-to-live, as (shortest, longest): each key gets a random one in
    /// between, so keys written together do not expire together.
    pub fn ttl_range(self) -> (Duration, Duration) {
        let min = |m: u64| Duration::from_secs(m * 60);
        match self {
            CacheType::Products => (min(5), min(15)),
            CacheType::Users => (min(27), min(33)),
            CacheType::Orders => (min(5), min(10)),
            CacheType::Categories => (min(54), min(66)),
            // Shorter than the rest: stock moves with every sale.
            CacheType::Inventory => (min(2), min(5)),
            CacheType::Dashboard => (min(9), min(11)),
        }
    }

    /// How long a value of this type may also live in each instance's memory (`local`), or
    /// `None` when it lives only in Redis. Users (sessions and profiles) are read by every
    /// authenticated request; one second bounds how long another instance may still honour
    /// a token after a logout or a suspension, should an invalidation message be lost.
    pub fn local_ttl(self) -> Option<Duration> {
        match self {
            CacheType::Users => Some(Duration::from_secs(1)),
            _ => None,
        }
    }
}

/// The Redis name of the key `name` under `prefix`: `{prefix}{{name}}`, the key as the hash
/// tag (see the module's note). A name holding a `}` still gives every key derived
/// from it one slot: they all begin with the same text up to the first `}`.
pub fn redis_name(prefix: &str, name: &str) -> String {
    format!("{prefix}{{{name}}}")
}

/// A cache key (`product:{id}`) and what it caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub kind: CacheType,
}

impl Key {
    fn new(name: String, kind: CacheType) -> Self {
        Self { name, kind }
    }
}

/// Stock figures and the sequence number of the stock change that made them
/// (`products.stock_seq`, bumped by every change of any of the product's stock rows). They
/// live beside the cached values they belong to and are laid over them when read: a sale
/// moves them forward ([`Stale::Tally`]) instead of forgetting the values, which would
/// otherwise be forgotten by every sale of a popular product. The highest sequence wins, so
/// writers may arrive in any order.
///
/// A product's figures are one per key ([`TallyOf::Key`]: every body of the product shows
/// the same); a store's stock row of one product has its own among the store's other rows
/// ([`TallyOf::Variant`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub seq: i64,
    pub quantity: i64,
    /// Units sold (a product's sales count; 0 for a stock row).
    pub sold: i64,
    /// When the figures last changed, in microseconds since the Unix epoch (a stock row's
    /// `updatedAt`); 0 where the value shows no such time.
    pub changed_at_us: i64,
}

/// The hash field of a key's [`Tally`]; no variant is named so (variant names are empty, a
/// query's JSON, or start with a letter).
pub const TALLY_FIELD: &str = "#tally";

/// Where a value's [`Tally`] lives in its key's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TallyOf {
    /// One for the whole key, [`TALLY_FIELD`].
    Key,
    /// One per variant, `#tally:{variant}`.
    Variant,
}

impl TallyOf {
    /// The hash field holding the figures of `variant`.
    pub(crate) fn field(self, variant: &str) -> String {
        match self {
            TallyOf::Key => TALLY_FIELD.to_owned(),
            TallyOf::Variant => format!("{TALLY_FIELD}:{variant}"),
        }
    }
}

impl Tally {
    /// `seq:quantity:sold:changed_at_us`, which the scripts compare by its first number.
    pub(crate) fn encode(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.seq, self.quantity, self.sold, self.changed_at_us
        )
    }

    /// Also reads the three-number form written before `changed_at_us` existed.
    pub(crate) fn decode(text: &str) -> Option<Tally> {
        let numbers: Vec<i64> = text
            .split(':')
            .map(str::parse::<i64>)
            .collect::<Result<_, _>>()
            .ok()?;
        match numbers[..] {
            [seq, quantity, sold] => Some(Tally {
                seq,
                quantity,
                sold,
                changed_at_us: 0,
            }),
            [seq, quantity, sold, changed_at_us] => Some(Tally {
                seq,
                quantity,
                sold,
                changed_at_us,
            }),
            _ => None,
        }
    }
}

/// What a write made stale: a whole key (every variant), or only some of its variants.
///
/// Variants are named so a write can forget just those it changes: a sale changes the stock
/// shown in a store's list variants (`list:` fields) and of the sold products (`item:{id}`),
/// not the rest of the store's stock; it changes the order of lists sorted by sales, not of
/// lists sorted by name. See [`variant`] for the prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stale {
    Key(Key),
    Variants {
        key: Key,
        /// Exact field names.
        fields: Vec<String>,
        /// Every field starting with one of these.
        prefixes: Vec<String>,
    },
    /// Stock figures moved to `tally` (if newer than the cached ones): the key's
    /// ([`TallyOf::Key`]) when `variant` is `None`, else that variant's; the values stay.
    Tally {
        key: Key,
        variant: Option<String>,
        tally: Tally,
    },
    /// A value with a version put in place of `field`'s unless a newer version of the key is
    /// cached (see [`crate::Cache::get_or_load_versioned`]): a writer that read the new
    /// value after its commit leaves it cached instead of forgetting it. `value` is the
    /// cached form (JSON).
    Newer {
        key: Key,
        field: String,
        seq: i64,
        value: Bytes,
    },
}

impl Stale {
    pub fn key(&self) -> &Key {
        match self {
            Stale::Key(key)
            | Stale::Variants { key, .. }
            | Stale::Tally { key, .. }
            | Stale::Newer { key, .. } => key,
        }
    }

    /// `value`, of version `seq`, for `key`'s `field` (see [`Stale::Newer`]); `None` if it
    /// cannot be encoded.
    pub fn newer<T: serde::Serialize>(key: Key, field: &str, seq: i64, value: &T) -> Option<Self> {
        Some(Stale::Newer {
            key,
            field: field.to_owned(),
            seq,
            value: Bytes::from(serde_json::to_vec(value).ok()?),
        })
    }

    /// The variants of `key` that start with one of `prefixes`.
    pub fn prefixed(key: Key, prefixes: &[&str]) -> Self {
        Stale::Variants {
            key,
            fields: Vec::new(),
            prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
        }
    }
}

impl From<Key> for Stale {
    fn from(key: Key) -> Self {
        Stale::Key(key)
    }
}

/// Field-name prefixes of list variants, by what their answer depends on beyond the list's
/// membership and text (which every write to a listed product's name, status or category
/// changes, and which forget the whole key).
pub mod variant {
    /// Depends on stock or units sold (an `inStock` filter, a sort by sales).
    pub const STOCK: &str = "s:";
    /// Depends on price (a price filter or sort).
    pub const PRICE: &str = "p:";
    /// Depends on both.
    pub const STOCK_AND_PRICE: &str = "sp:";
    /// Neither: only a change of text, status or category makes it stale.
    pub const PLAIN: &str = "n:";
    /// Sorted by units sold and filtered by neither stock nor price: a ranking, which every
    /// sale of a listed product may reorder. Not forgotten by sales (it would hardly ever be
    /// read before the next one); the reader reloads it once it is older than its maximum
    /// age (`api::listing`), so the order is at most that old while the figures shown are
    /// the products' own, current ones.
    pub const RANKED: &str = "r:";
    /// Forgotten by a stock change.
    pub const AFTER_STOCK_CHANGE: &[&str] = &[STOCK, STOCK_AND_PRICE];
    /// Forgotten by a price change.
    pub const AFTER_PRICE_CHANGE: &[&str] = &[PRICE, STOCK_AND_PRICE];

    /// The prefix of a list variant.
    pub fn prefix(stock: bool, price: bool) -> &'static str {
        match (stock, price) {
            (true, true) => STOCK_AND_PRICE,
            (true, false) => STOCK,
            (false, true) => PRICE,
            (false, false) => PLAIN,
        }
    }

    /// In `store:{id}:inventory`: one product's stock row.
    pub fn stock_item(product: domain::ids::ProductId) -> String {
        format!("item:{product}")
    }

    /// In `store:{id}:inventory`: the prefix of list variants (every one shows quantities).
    pub const STOCK_LIST: &str = "list:";
}

pub fn product(id: ProductId) -> Key {
    Key::new(format!("product:{id}"), CacheType::Products)
}

pub fn product_sku(sku: &str) -> Key {
    Key::new(format!("product:sku:{sku}"), CacheType::Products)
}

pub fn category_products(id: CategoryId) -> Key {
    Key::new(format!("category:{id}:products"), CacheType::Categories)
}

pub fn store_inventory(id: StoreId) -> Key {
    Key::new(format!("store:{id}:inventory"), CacheType::Inventory)
}

pub fn user_profile(id: UserId) -> Key {
    Key::new(format!("user:{id}:profile"), CacheType::Users)
}

/// A login session, by the hex SHA-256 of its token (never the token itself).
pub fn session(token_digest: &[u8]) -> Key {
    // Every authenticated request names its session: one hex encoding, not a `format!` per
    // byte (which was a tenth of a cached read's instructions under callgrind).
    Key::new(
        format!("session:{}", hex::encode(token_digest)),
        CacheType::Users,
    )
}

pub fn order(id: OrderId) -> Key {
    Key::new(format!("order:{id}"), CacheType::Orders)
}

pub fn customer_recent_orders(id: CustomerId) -> Key {
    Key::new(format!("customer:{id}:orders:recent"), CacheType::Orders)
}

/// Search results (the query is the variant), under one key per type like the lists.
pub fn product_search() -> Key {
    Key::new("products:search".into(), CacheType::Products)
}

pub fn bestsellers() -> Key {
    Key::new("bestsellers".into(), CacheType::Products)
}

/// The dashboard of one store (`Some`), or of the whole chain and multi-store scopes (`None`).
pub fn dashboard(store: Option<StoreId>) -> Key {
    match store {
        Some(id) => Key::new(format!("dashboard:stats:{id}"), CacheType::Dashboard),
        None => Key::new("dashboard:stats".into(), CacheType::Dashboard),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_key_names() {
        let id = uuid::Uuid::nil();
        assert_eq!(
            product(id.into()).name,
            "product:00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(product_sku("RB-1").name, "product:sku:RB-1");
        assert_eq!(
            category_products(id.into()).name,
            format!("category:{id}:products")
        );
        assert_eq!(
            store_inventory(id.into()).name,
            format!("store:{id}:inventory")
        );
        assert_eq!(user_profile(id.into()).name, format!("user:{id}:profile"));
        assert_eq!(order(id.into()).name, format!("order:{id}"));
        assert_eq!(
            customer_recent_orders(id.into()).name,
            format!("customer:{id}:orders:recent")
        );
        assert_eq!(bestsellers().name, "bestsellers");
        assert_eq!(dashboard(None).name, "dashboard:stats");
        assert_eq!(session(&[0xab, 0x01]).name, "session:ab01");
    }

    #[test]
    fn redis_names_carry_the_plan_key_as_hash_tag() {
        assert_eq!(redis_name("t1:", "product:ab"), "t1:{product:ab}");
        assert_eq!(redis_name("", "bestsellers"), "{bestsellers}");
    }

    #[test]
    fn tallies_round_trip() {
        let tally = Tally {
            seq: 7,
            quantity: -1,
            sold: 12,
            changed_at_us: 1_700_000_000_000_000,
        };
        assert_eq!(tally.encode(), "7:-1:12:1700000000000000");
        assert_eq!(Tally::decode(&tally.encode()), Some(tally));
        let before = Tally::decode("7:1:2").expect("the older form");
        assert_eq!((before.seq, before.sold, before.changed_at_us), (7, 2, 0));
        assert_eq!(Tally::decode("7:1"), None);
        assert_eq!(Tally::decode("7:1:2:3:4"), None);
        assert_eq!(Tally::decode("x:1:2"), None);
        assert_eq!(TallyOf::Key.field("item:1"), "#tally");
        assert_eq!(TallyOf::Variant.field("item:1"), "#tally:item:1");
    }

    #[test]
    fn ttls_follow_the_plan() {
        assert_eq!(CacheType::Products.ttl_range().0.as_secs(), 300);
        assert_eq!(CacheType::Products.ttl_range().1.as_secs(), 900);
        assert_eq!(CacheType::Categories.ttl_range().1.as_secs(), 3960);
    }
}
