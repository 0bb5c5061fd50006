//! A placed order: its lines and payments as stored, and the rules that change it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{OrderStatus, PaymentMethod, PaymentStatus};
use crate::ids::{CustomerId, OrderId, PaymentId, ProductId, StoreId, UserId};
use crate::money::Money;

/// Why an order refuses a payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentRefused {
    #[error("a cancelled order cannot take payments")]
    Cancelled,
    #[error("the payment of {amount} is more than the {due} still due")]
    AboveDue { amount: Money, due: Money },
}

/// A payment's amount, as a client sends it: minor units above 0.
pub fn payment_amount(amount: i64) -> Result<Money, String> {
    if amount <= 0 {
        return Err("must be above 0".into());
    }
    Ok(Money::from_minor(amount))
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
    /// As sold.
    pub unit_price: Money,
    pub line_total: Money,
}

/// One payment against an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: PaymentId,
    /// Above 0 ([`payment_amount`]).
    pub amount: Money,
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
    /// `ORD-<year>-<6+ digits>` ([`super::order_number`]).
    pub order_number: String,
    pub store_id: StoreId,
    pub customer_id: CustomerId,
    /// The customer's name and phone as they were when the order was placed.
    pub customer_name: String,
    pub customer_phone: String,
    pub items: Vec<OrderItem>,
    /// The sum of the lines.
    pub total: Money,
    /// The sum of the payments so far.
    pub amount_paid: Money,
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
    pub fn amount_due(&self) -> Money {
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

    fn order(status: OrderStatus, total: i64) -> Order {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Order {
            id: OrderId::generate(),
            order_number: crate::order::order_number(2026, 1),
            store_id: uuid::Uuid::from_u128(10).into(),
            customer_id: uuid::Uuid::from_u128(11).into(),
            customer_name: "Asha".into(),
            customer_phone: "+919800000000".into(),
            items: Vec::new(),
            total: Money::from_minor(total),
            amount_paid: Money::ZERO,
            payments: Vec::new(),
            status,
            payment_status: PaymentStatus::of(Money::ZERO, Money::from_minor(total)),
            created_by: None,
            created_at: at,
            updated_at: at,
            archived: false,
        }
    }

    fn payment(amount: i64) -> Payment {
        Payment {
            id: PaymentId::generate(),
            amount: Money::from_minor(amount),
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
                amount: Money::from_minor(1001),
                due: Money::from_minor(1000)
            })
        );
        assert!(order.payments.is_empty(), "a refused payment is not kept");
        assert_eq!(order.record_payment(payment(400)), Ok(()));
        assert_eq!(order.payment_status, PaymentStatus::PartiallyPaid);
        assert_eq!(order.record_payment(payment(600)), Ok(()));
        assert_eq!(order.payment_status, PaymentStatus::Paid);
        assert_eq!(order.amount_due(), Money::ZERO);
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
        assert_eq!(
            PaymentRefused::AboveDue {
                amount: Money::from_minor(1001),
                due: Money::from_minor(1000)
            }
            .to_string(),
            "the payment of 1001 is more than the 1000 still due"
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
}
