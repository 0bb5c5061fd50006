//! Typed identifiers: one type per kind of row, so a product's id cannot be passed where a
//! store's is expected. Each is a UUID on the wire and in the database; the route parses it,
//! storage binds it, and nothing between handles a bare [`Uuid`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Declares identifier types: a UUID inside, serialized as the bare UUID (`serde(transparent)`)
/// and stored as a `uuid` column (`sqlx(transparent)`, with the `sqlx` feature), so the JSON
/// and the columns are those of a bare UUID.
macro_rules! id_types {
    ($($(#[doc = $doc:literal])* $name:ident;)+) => {$(
        $(#[doc = $doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
        pub struct $name(Uuid);

        impl $name {
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn uuid(self) -> Uuid {
                self.0
            }

            /// A new id: a UUIDv7, time-ordered, so new rows land at the right edge of the
            /// indexes on it.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::from_str(text).map(Self)
            }
        }
    )+};
}

id_types! {
    /// A store of the chain.
    StoreId;
    /// A product category.
    CategoryId;
    /// A product (frame, lens, contact lens, accessory).
    ProductId;
    /// A customer.
    CustomerId;
    /// A staff account.
    UserId;
    /// An order: a UUIDv7, whose timestamp is the order's creation time ([`OrderId::created_at`]).
    OrderId;
    /// One payment of an order.
    PaymentId;
    /// An eye prescription.
    PrescriptionId;
    /// A lens-fitting job in a store's workshop.
    JobId;
    /// A move of stock between two stores (both of its movements carry it).
    TransferId;
}

impl OrderId {
    /// The creation time embedded in the id (to the millisecond), which is the order's
    /// `created_at` and so names its partition. `None` for an id that is not a UUIDv7, which no
    /// order has.
    pub fn created_at(self) -> Option<DateTime<Utc>> {
        let (secs, nanos) = self.0.get_timestamp()?.to_unix();
        DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_bare_uuids_in_json_and_text() {
        let uuid = Uuid::from_u128(0x1234);
        let id = ProductId::from(uuid);
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{uuid}\""));
        assert_eq!(id.to_string(), uuid.to_string());
        assert_eq!(uuid.to_string().parse::<ProductId>().unwrap(), id);
        assert!("not-a-uuid".parse::<ProductId>().is_err());
    }

    #[test]
    fn an_order_id_carries_its_creation_time() {
        let before = Utc::now() - chrono::Duration::milliseconds(1);
        let at = OrderId::generate().created_at().unwrap();
        assert!(at >= before && at <= Utc::now());
        assert_eq!(OrderId::from(Uuid::new_v4()).created_at(), None);
    }
}
