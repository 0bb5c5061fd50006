//! Orders: their numbers, the status machine, what a new order may hold and what a payment
//! may be. Storage calls these rules inside the transaction that locks the rows they read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, OrderId, PaymentId, ProductId, StoreId, UserId};

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

/// One line of a placed order: a copy of the product as it was sold, so later catalogue
/// changes do not rewrite history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub product_id: ProductId,
    pub sku: String,
    pub name: String,
    pub quantity: i32,
    /// Minor units, as sold.
    pub unit_price: i64,
    pub line_total: i64,
}

/// One payment against an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: PaymentId,
    /// Minor units, above 0 ([`payment_amount`]).
    pub amount: i64,
    pub method: PaymentMethod,
    pub paid_at: DateTime<Utc>,
    pub recorded_by: Option<UserId>,
}

/// A placed order: who bought what, in which store, what was paid, and where it stands. The
/// rules that change it ([`Order::change_status`], [`Order::record_payment`]) run on the order
/// as storage has locked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    /// `ORD-<year>-<6+ digits>` ([`order_number`]).
    pub order_number: String,
    pub store_id: StoreId,
    pub customer_id: CustomerId,
    /// The customer's name and phone as they were when the order was placed.
    pub customer_name: String,
    pub customer_phone: String,
    pub items: Vec<OrderItem>,
    /// Minor units: the sum of the lines.
    pub total: i64,
    /// Minor units: the sum of the payments so far.
    pub amount_paid: i64,
    pub payments: Vec<Payment>,
    pub status: OrderStatus,
    /// Kept equal to [`PaymentStatus::of`] the amounts by [`Order::record_payment`].
    pub payment_status: PaymentStatus,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Read from the archive of its month, not from the live tables: read-only.
    pub archived: bool,
}

impl Order {
    pub fn amount_due(&self) -> i64 {
        self.total - self.amount_paid
    }

    /// Moves the order along its status machine ([`OrderStatus::transition`]).
    pub fn change_status(&mut self, next: OrderStatus) -> Result<(), String> {
        self.status = self.status.transition(next)?;
        Ok(())
    }

    /// Takes `payment` (its amount from [`payment_amount`]): a cancelled order takes none,
    /// and no order takes more than it still owes.
    pub fn record_payment(&mut self, payment: Payment) -> Result<(), PaymentRefused> {
        if self.status == OrderStatus::Cancelled {
            return Err(PaymentRefused::Cancelled);
        }
        let due = self.amount_due();
        if payment.amount > due {
            return Err(PaymentRefused::AboveDue {
                amount: payment.amount,
                due,
            });
        }
        self.amount_paid += payment.amount;
        self.payment_status = PaymentStatus::of(self.amount_paid, self.total);
        self.payments.push(payment);
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

    fn order(status: OrderStatus, total: i64) -> Order {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Order {
            id: OrderId::generate(),
            order_number: order_number(2026, 1),
            store_id: uuid::Uuid::from_u128(10).into(),
            customer_id: uuid::Uuid::from_u128(11).into(),
            customer_name: "Asha".into(),
            customer_phone: "+919800000000".into(),
            items: Vec::new(),
            total,
            amount_paid: 0,
            payments: Vec::new(),
            status,
            payment_status: PaymentStatus::of(0, total),
            created_by: None,
            created_at: at,
            updated_at: at,
            archived: false,
        }
    }

    fn payment(amount: i64) -> Payment {
        Payment {
            id: PaymentId::generate(),
            amount,
            method: PaymentMethod::Cash,
            paid_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            recorded_by: None,
        }
    }

    #[test]
    fn payments() {
        let mut order = order(Confirmed, 1000);
        assert_eq!(payment_amount(0), Err("must be above 0".into()));
        assert_eq!(
            order.record_payment(payment(1001)),
            Err(PaymentRefused::AboveDue {
                amount: 1001,
                due: 1000
            })
        );
        assert!(order.payments.is_empty(), "a refused payment is not kept");
        assert_eq!(order.record_payment(payment(400)), Ok(()));
        assert_eq!(order.payment_status, PaymentStatus::PartiallyPaid);
        assert_eq!(order.record_payment(payment(600)), Ok(()));
        assert_eq!(order.payment_status, PaymentStatus::Paid);
        assert_eq!(order.amount_due(), 0);
        assert_eq!(order.payments.len(), 2);
        assert!(order.record_payment(payment(1)).is_err());
        let mut cancelled = self::order(Cancelled, 1000);
        assert_eq!(
            cancelled.record_payment(payment(1)),
            Err(PaymentRefused::Cancelled)
        );
        assert_eq!(
            PaymentRefused::Cancelled.to_string(),
            "a cancelled order cannot take payments"
        );
    }

    #[test]
    fn status_changes_follow_the_machine() {
        let mut placed = order(Pending, 1000);
        assert_eq!(placed.change_status(Confirmed), Ok(()));
        assert_eq!(placed.status, Confirmed);
        assert!(placed.change_status(Delivered).is_err());
        assert_eq!(
            placed.status, Confirmed,
            "a refused change keeps the status"
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
