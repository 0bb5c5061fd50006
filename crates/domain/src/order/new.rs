//! A new order as a till sends it, checked before anything is locked.

use crate::ids::{CustomerId, ProductId, StoreId};
use crate::{FieldError, ValidationErrors};

/// The most lines one order may have; a till never needs more, and it bounds the work of one
/// transaction.
pub const MAX_ORDER_LINES: usize = 50;
/// The most units of one line.
pub const MAX_LINE_QUANTITY: i32 = 1000;

/// One line of a new order: a product and how many units of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub product_id: ProductId,
    pub quantity: i32,
}

/// An order as a till sends it, checked: 1 to [`MAX_ORDER_LINES`] lines of 1 to
/// [`MAX_LINE_QUANTITY`] units each. Whether the store trades and the products are for sale
/// is decided where they are locked ([`crate::catalog::StoreStatus::ensure_trading`],
/// [`crate::catalog::ProductStatus::ensure_for_sale`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub store_id: StoreId,
    pub customer_id: CustomerId,
    lines: Vec<Line>,
}

impl NewOrder {
    /// Every bad line is named (`items[2].quantity`), so a till fixes them in one round.
    pub fn parse(
        store_id: StoreId,
        customer_id: CustomerId,
        lines: Vec<Line>,
    ) -> Result<Self, ValidationErrors> {
        if lines.is_empty() || lines.len() > MAX_ORDER_LINES {
            return Err(ValidationErrors::single(
                "items",
                format!("must have 1 to {MAX_ORDER_LINES} lines"),
            ));
        }
        let errors: Vec<FieldError> = lines
            .iter()
            .enumerate()
            .filter(|(_, line)| !(1..=MAX_LINE_QUANTITY).contains(&line.quantity))
            .map(|(i, _)| {
                FieldError::new(
                    format!("items[{i}].quantity"),
                    format!("must be from 1 to {MAX_LINE_QUANTITY}"),
                )
            })
            .collect();
        if !errors.is_empty() {
            return Err(ValidationErrors(errors));
        }
        Ok(Self {
            store_id,
            customer_id,
            lines,
        })
    }

    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The lines with a repeated product merged into its first line, which keeps its
    /// position in the request (for the error's field path): `(index, product, units)`.
    pub fn merged_lines(&self) -> Vec<(usize, Line)> {
        let mut merged: Vec<(usize, Line)> = Vec::new();
        for (index, line) in self.lines.iter().enumerate() {
            match merged
                .iter_mut()
                .find(|(_, l)| l.product_id == line.product_id)
            {
                // At most 50 lines of 1000 units: the sum cannot overflow.
                Some((_, first)) => first.quantity = first.quantity.saturating_add(line.quantity),
                None => merged.push((index, *line)),
            }
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(product: u128, quantity: i32) -> Line {
        Line {
            product_id: uuid::Uuid::from_u128(product).into(),
            quantity,
        }
    }

    #[test]
    fn new_orders_name_every_bad_line() {
        let (store, customer) = (
            uuid::Uuid::from_u128(10).into(),
            uuid::Uuid::from_u128(11).into(),
        );
        let empty = NewOrder::parse(store, customer, vec![]).unwrap_err();
        assert_eq!(empty.0[0].field, "items");
        let many = NewOrder::parse(store, customer, vec![line(1, 1); MAX_ORDER_LINES + 1]);
        assert!(many.is_err());
        let bad = NewOrder::parse(store, customer, vec![line(1, 0), line(2, 1), line(3, 1001)])
            .unwrap_err();
        let fields: Vec<&str> = bad.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["items[0].quantity", "items[2].quantity"]);
        assert!(NewOrder::parse(store, customer, vec![line(1, MAX_LINE_QUANTITY)]).is_ok());
    }

    #[test]
    fn repeated_products_merge_into_their_first_line() {
        let order = NewOrder::parse(
            uuid::Uuid::from_u128(10).into(),
            uuid::Uuid::from_u128(11).into(),
            vec![line(1, 2), line(2, 1), line(1, 3)],
        )
        .unwrap();
        assert_eq!(order.merged_lines(), vec![(0, line(1, 5)), (1, line(2, 1))]);
    }
}
