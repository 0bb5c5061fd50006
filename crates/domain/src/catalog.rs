//! Stores, categories and products: what the chain sells and where.

pub use crate::money::Money;

named_enum!(
    /// Whether a store trades. Closed stores keep their history.
    StoreStatus { Active = "active", Closed = "closed" }
);
named_enum!(
    /// Inactive categories are hidden from `GET /categories`.
    CategoryStatus { Active = "active", Inactive = "inactive" }
);
named_enum!(
    /// Only active products are sold and shown in the public catalogue.
    ProductStatus { Active = "active", Inactive = "inactive", Discontinued = "discontinued" }
);

impl StoreStatus {
    /// Only an active store sells: a closed one keeps its history and takes no orders.
    pub fn ensure_trading(self) -> Result<(), String> {
        match self {
            StoreStatus::Active => Ok(()),
            StoreStatus::Closed => Err("this store is closed".into()),
        }
    }
}

impl ProductStatus {
    /// Only active products are sold.
    pub fn ensure_for_sale(self) -> Result<(), String> {
        match self {
            ProductStatus::Active => Ok(()),
            other => Err(format!("this product is {other} and not for sale")),
        }
    }
}

/// A store's short code, as staff type it: 2–16 of `A-Z`, `0-9`, `-`, stored upper case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCode(String);

impl StoreCode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let code = raw.trim().to_ascii_uppercase();
        let ok = (2..=16).contains(&code.len())
            && code
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err("must be 2 to 16 letters, digits or '-'".into());
        }
        Ok(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stock-keeping unit: `[A-Z0-9][A-Z0-9-]{2,31}` (the contract's pattern), unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku(String);

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let sku = raw.trim();
        let mut chars = sku.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        let rest_ok = chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
        if !(3..=32).contains(&sku.len()) || !first_ok || !rest_ok {
            return Err("must match [A-Z0-9][A-Z0-9-]{2,31}: 3 to 32 upper-case letters, digits or '-', not starting with '-'".into());
        }
        Ok(Self(sku.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A brand name as shown to customers: 1–100 characters.
pub fn brand(raw: &str) -> Result<String, String> {
    crate::text::bounded(raw, 1, 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus() {
        assert!(Sku::parse("RB-3025-001").is_ok());
        assert!(Sku::parse("AB1").is_ok());
        for bad in ["ab-123", "-AB", "AB", "A B C", &"A".repeat(33)] {
            assert!(Sku::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn store_codes_are_upper_cased() {
        assert_eq!(StoreCode::parse("mum-01").map(|c| c.0), Ok("MUM-01".into()));
        assert!(StoreCode::parse("x").is_err());
    }

    #[test]
    fn only_active_stores_and_products_trade() {
        assert!(StoreStatus::Active.ensure_trading().is_ok());
        assert_eq!(
            StoreStatus::Closed.ensure_trading(),
            Err("this store is closed".into())
        );
        assert!(ProductStatus::Active.ensure_for_sale().is_ok());
        assert_eq!(
            ProductStatus::Discontinued.ensure_for_sale(),
            Err("this product is discontinued and not for sale".into())
        );
        assert!(ProductStatus::Inactive.ensure_for_sale().is_err());
    }

    #[test]
    fn statuses_round_trip() {
        for s in ProductStatus::ALL {
            assert_eq!(ProductStatus::from_name(s.as_str()), Some(*s));
            assert_eq!(s.as_str().parse::<ProductStatus>(), Ok(*s));
        }
        assert_eq!(ProductStatus::ALL.len(), 3);
    }

    #[test]
    fn unknown_names_say_what_is_expected() {
        let err = ProductStatus::try_from("Active".to_string()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"Active\" is not a ProductStatus; expected one of active, inactive, discontinued"
        );
        assert_eq!(
            <ProductStatus as crate::Named>::DESCRIPTION.trim(),
            "Only active products are sold and shown in the public catalogue."
        );
    }
}
