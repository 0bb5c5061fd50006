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
    #[test]
    fn bounds() {
        assert!(super::adjustment_delta(0).is_err());
        assert!(super::adjustment_delta(-5).is_ok());
        assert!(super::adjustment_delta(100_001).is_err());
        assert!(super::transfer_quantity(0).is_err());
        assert!(super::transfer_quantity(3).is_ok());
    }
}
