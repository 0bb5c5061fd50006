//! Orders: their numbers, the status machine, what a new order may hold and what a payment
//! may be. Storage calls these rules inside the transaction that locks the rows they read.

use crate::ids::{CustomerId, ProductId, StoreId};

use crate::{FieldError, ValidationErrors};

named_enum!(
    /// `pending → confirmed → in_workshop → ready → delivered`; `pending|confirmed → cancelled`.
    OrderStatus {
        Pending = "pending", Confirmed = "confirmed", InWorkshop = "in_workshop",
        Ready = "ready", Delivered = "delivered", Cancelled = "cancelled"
    }
);
named_enum!(
    /// Derived from the sum of payments against the order's total.
    PaymentStatus { Unpaid = "unpaid", PartiallyPaid = "partially_paid", Paid = "paid" }
);
named_enum!(
    /// How a customer paid.
    PaymentMethod { Cash = "cash", Card = "card", Upi = "upi" }
);

impl OrderStatus {
    /// Whether the order is still under way (the dashboard counts these by status).
    pub fn is_open(self) -> bool {
        !matches!(self, OrderStatus::Delivered | OrderStatus::Cancelled)
    }

    /// Whether the contract's status machine allows going from `self` to `next`.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (Pending, Confirmed)
                | (Confirmed, InWorkshop)
                | (InWorkshop, Ready)
                | (Ready, Delivered)
                | (Pending | Confirmed, Cancelled)
        )
    }

    /// Checks a transition, with a message that says what is allowed instead.
    pub fn transition(self, next: OrderStatus) -> Result<OrderStatus, String> {
        if self.can_become(next) {
            return Ok(next);
        }
        let allowed: Vec<&str> = OrderStatus::ALL
            .iter()
            .filter(|s| self.can_become(**s))
            .map(|s| s.as_str())
            .collect();
        Err(if allowed.is_empty() {
            format!("an order that is {} cannot change status", self.as_str())
        } else {
            format!(
                "an order that is {} can only become {}",
                self.as_str(),
                allowed.join(" or ")
            )
        })
    }
}

impl PaymentStatus {
    pub fn of(paid: i64, total: i64) -> PaymentStatus {
        if paid <= 0 && total > 0 {
            PaymentStatus::Unpaid
        } else if paid < total {
            PaymentStatus::PartiallyPaid
        } else {
            PaymentStatus::Paid
        }
    }
}

/// `ORD-<year>-<6+ digits>` from the order's year and a sequence number unique for all time.
pub fn order_number(year: i32, sequence: i64) -> String {
    format!("ORD-{year}-{sequence:06}")
}

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

/// Why an order refuses a payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentRefused {
    #[error("a cancelled order cannot take payments")]
    Cancelled,
    #[error("the payment of {amount} is more than the {due} still due")]
    AboveDue { amount: i64, due: i64 },
}

/// A payment's amount, as a client sends it: minor units above 0.
pub fn payment_amount(amount: i64) -> Result<i64, String> {
    if amount <= 0 {
        return Err("must be above 0".into());
    }
    Ok(amount)
}

/// What an order's rules decide on: its status and what it owes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub status: OrderStatus,
    /// Minor units.
    pub total: i64,
    /// Minor units, the sum of the payments so far.
    pub amount_paid: i64,
}

impl Order {
    pub fn amount_due(&self) -> i64 {
        self.total - self.amount_paid
    }

    pub fn payment_status(&self) -> PaymentStatus {
        PaymentStatus::of(self.amount_paid, self.total)
    }

    /// Takes a payment of `amount` (from [`payment_amount`]): a cancelled order takes none,
    /// and no order takes more than it still owes.
    pub fn record_payment(&mut self, amount: i64) -> Result<(), PaymentRefused> {
        if self.status == OrderStatus::Cancelled {
            return Err(PaymentRefused::Cancelled);
        }
        let due = self.amount_due();
        if amount > due {
            return Err(PaymentRefused::AboveDue { amount, due });
        }
        self.amount_paid += amount;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

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

    #[test]
    fn payments() {
        let mut order = Order {
            status: Confirmed,
            total: 1000,
            amount_paid: 0,
        };
        assert_eq!(payment_amount(0), Err("must be above 0".into()));
        assert_eq!(
            order.record_payment(1001),
            Err(PaymentRefused::AboveDue {
                amount: 1001,
                due: 1000
            })
        );
        assert_eq!(order.record_payment(400), Ok(()));
        assert_eq!(order.payment_status(), PaymentStatus::PartiallyPaid);
        assert_eq!(order.record_payment(600), Ok(()));
        assert_eq!(order.payment_status(), PaymentStatus::Paid);
        assert_eq!(order.amount_due(), 0);
        assert!(order.record_payment(1).is_err());
        let mut cancelled = Order {
            status: Cancelled,
            total: 1000,
            amount_paid: 0,
        };
        assert_eq!(cancelled.record_payment(1), Err(PaymentRefused::Cancelled));
        assert_eq!(
            PaymentRefused::Cancelled.to_string(),
            "a cancelled order cannot take payments"
        );
    }

    #[test]
    fn open_statuses_are_the_dashboards() {
        let open: Vec<&str> = OrderStatus::ALL
            .iter()
            .filter(|s| s.is_open())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(open, ["pending", "confirmed", "in_workshop", "ready"]);
    }

    #[test]
    fn status_machine() {
        for (from, to) in [
            (Pending, Confirmed),
            (Confirmed, InWorkshop),
            (InWorkshop, Ready),
            (Ready, Delivered),
            (Pending, Cancelled),
            (Confirmed, Cancelled),
        ] {
            assert!(from.can_become(to), "{from:?} -> {to:?}");
        }
        for (from, to) in [
            (Pending, Delivered),
            (InWorkshop, Cancelled),
            (Delivered, Cancelled),
            (Cancelled, Pending),
            (Ready, InWorkshop),
            (Pending, Pending),
        ] {
            assert!(!from.can_become(to), "{from:?} -> {to:?}");
        }
        assert_eq!(
            Pending.transition(Ready).unwrap_err(),
            "an order that is pending can only become confirmed or cancelled"
        );
        assert!(Delivered
            .transition(Cancelled)
            .unwrap_err()
            .contains("cannot change"));
    }

    #[test]
    fn payment_status() {
        assert_eq!(PaymentStatus::of(0, 100), PaymentStatus::Unpaid);
        assert_eq!(PaymentStatus::of(50, 100), PaymentStatus::PartiallyPaid);
        assert_eq!(PaymentStatus::of(100, 100), PaymentStatus::Paid);
        assert_eq!(PaymentStatus::of(0, 0), PaymentStatus::Paid);
    }

    #[test]
    fn numbers() {
        assert_eq!(order_number(2026, 42), "ORD-2026-000042");
        assert_eq!(order_number(2026, 1_234_567), "ORD-2026-1234567");
    }
}
