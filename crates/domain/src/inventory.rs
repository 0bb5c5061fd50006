//! Stock: quantities, adjustments and transfers between stores.

named_enum!(
    /// Derived from the quantity and the row's reorder level.
    StockStatus { InStock = "in_stock", LowStock = "low_stock", OutOfStock = "out_of_stock" }
);
named_enum!(
    /// Why a row's quantity changed; every change is kept as a movement.
    MovementKind {
        Initial = "initial", Sale = "sale", Cancellation = "cancellation",
        Adjustment = "adjustment", TransferIn = "transfer_in", TransferOut = "transfer_out"
    }
);

impl MovementKind {
    /// Whether a movement of this kind moves its product's sales counter: a sale adds the
    /// units it takes, its cancellation takes them back.
    pub fn counts_as_sale(self) -> bool {
        matches!(self, MovementKind::Sale | MovementKind::Cancellation)
    }
}

impl StockStatus {
    /// A row's status, as the database derives it (`inventory.status`, migration 0002): the
    /// cache lays it over a cached row whose quantity moved on.
    pub fn of(quantity: i64, reorder_level: i64) -> Self {
        if quantity <= 0 {
            StockStatus::OutOfStock
        } else if quantity <= reorder_level {
            StockStatus::LowStock
        } else {
            StockStatus::InStock
        }
    }
}

/// The largest single adjustment or transfer; anything bigger is a typo.
pub const MAX_STOCK_CHANGE: i32 = 100_000;

/// An adjustment's delta: non-zero and within bounds.
pub fn adjustment_delta(delta: i32) -> Result<i32, String> {
    if delta == 0 || delta.abs() > MAX_STOCK_CHANGE {
        return Err(format!(
            "must be a non-zero number of units from -{MAX_STOCK_CHANGE} to {MAX_STOCK_CHANGE}"
        ));
    }
    Ok(delta)
}

/// A transfer's quantity: positive and within bounds.
pub fn transfer_quantity(quantity: i32) -> Result<i32, String> {
    if !(1..=MAX_STOCK_CHANGE).contains(&quantity) {
        return Err(format!("must be from 1 to {MAX_STOCK_CHANGE} units"));
    }
    Ok(quantity)
}

#[cfg(test)]
mod tests {
    use super::StockStatus;

    #[test]
    fn status_follows_quantity_and_reorder_level() {
        assert_eq!(StockStatus::of(0, 5), StockStatus::OutOfStock);
        assert_eq!(StockStatus::of(1, 5), StockStatus::LowStock);
        assert_eq!(StockStatus::of(5, 5), StockStatus::LowStock);
        assert_eq!(StockStatus::of(6, 5), StockStatus::InStock);
        assert_eq!(StockStatus::of(0, 0), StockStatus::OutOfStock);
        assert_eq!(StockStatus::of(1, 0), StockStatus::InStock);
    }

    #[test]
    fn bounds() {
        assert!(super::adjustment_delta(0).is_err());
        assert!(super::adjustment_delta(-5).is_ok());
        assert!(super::adjustment_delta(100_001).is_err());
        assert!(super::transfer_quantity(0).is_err());
        assert!(super::transfer_quantity(3).is_ok());
    }
}
