//! Orders: their numbers and the status machine ([`OrderStatus`], [`PaymentStatus`]), what a
//! new order may hold ([`NewOrder`], in `new`) and a placed order with the rules that change
//! it ([`Order`], in `placed`). Storage calls these rules inside the transaction that locks
//! the rows they read.

use crate::money::Money;

mod new;
mod placed;

pub use new::{Line, NewOrder, MAX_LINE_QUANTITY, MAX_ORDER_LINES};
pub use placed::{payment_amount, Order, OrderItem, Payment, PaymentRefused};

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
        Err(crate::named_enum::refused_move("an order", self, |s| {
            self.can_become(s)
        }))
    }
}

impl PaymentStatus {
    pub fn of(paid: Money, total: Money) -> PaymentStatus {
        if paid <= Money::ZERO && total > Money::ZERO {
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

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

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
        let of = |paid, total| PaymentStatus::of(Money::from_minor(paid), Money::from_minor(total));
        assert_eq!(of(0, 100), PaymentStatus::Unpaid);
        assert_eq!(of(50, 100), PaymentStatus::PartiallyPaid);
        assert_eq!(of(100, 100), PaymentStatus::Paid);
        assert_eq!(of(0, 0), PaymentStatus::Paid);
    }

    #[test]
    fn numbers() {
        assert_eq!(order_number(2026, 42), "ORD-2026-000042");
        assert_eq!(order_number(2026, 1_234_567), "ORD-2026-1234567");
    }
}
