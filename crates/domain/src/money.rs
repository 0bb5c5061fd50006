//! Money: whole minor units (paise), never a float, in the JSON, the columns and the sums.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Sub};

use serde::{Deserialize, Serialize};

/// An amount of money in minor units (paise). Serialized and stored as the bare integer.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);
    /// The largest price we accept: ₹1 crore, far above any frame or lens, well inside i64.
    pub const MAX_PRICE: i64 = 1_000_000_000;

    /// A price as a client sends it: 0 to [`Money::MAX_PRICE`].
    pub fn price(minor: i64) -> Result<Self, String> {
        if !(0..=Self::MAX_PRICE).contains(&minor) {
            return Err(format!(
                "must be a whole number of paise from 0 to {}",
                Self::MAX_PRICE
            ));
        }
        Ok(Self(minor))
    }

    /// An amount already accepted: a stored price, a total, a sum of payments.
    pub const fn from_minor(minor: i64) -> Self {
        Self(minor)
    }

    pub const fn minor(self) -> i64 {
        self.0
    }

    /// The price of `quantity` units. A line holds at most 1,000 units of at most
    /// [`Money::MAX_PRICE`], far inside i64; it saturates rather than wrap all the same.
    pub fn times(self, quantity: i32) -> Money {
        Money(self.0.saturating_mul(i64::from(quantity)))
    }
}

impl Add for Money {
    type Output = Money;

    fn add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, other: Money) {
        *self = *self + other;
    }
}

impl Sub for Money {
    type Output = Money;

    fn sub(self, other: Money) -> Money {
        Money(self.0.saturating_sub(other.0))
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(amounts: I) -> Money {
        amounts.fold(Money::ZERO, Add::add)
    }
}

/// The number of minor units, as the contract and its messages write amounts.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_bounded() {
        assert!(Money::price(0).is_ok());
        assert!(Money::price(-1).is_err());
        assert!(Money::price(Money::MAX_PRICE + 1).is_err());
    }

    #[test]
    fn amounts_add_up_and_read_as_integers() {
        let unit = Money::from_minor(1_250);
        let total: Money = [unit.times(3), Money::from_minor(250)].into_iter().sum();
        assert_eq!(total, Money::from_minor(4_000));
        assert_eq!(total - unit, Money::from_minor(2_750));
        assert_eq!(total.to_string(), "4000");
        assert_eq!(serde_json::to_string(&total).unwrap(), "4000");
        assert_eq!(Money::from_minor(i64::MAX).times(2).minor(), i64::MAX);
    }
}
