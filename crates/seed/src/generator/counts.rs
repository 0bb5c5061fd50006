//! How many rows of each kind a scale asks for. Scale 1 is the reference chain; every count
//! is multiplied by the scale and rounded, with at least one of each so tiny scales still
//! exercise every table. Inventory is derived: one row per (product, store).

/// Row counts of the generated chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub stores: usize,
    pub categories: usize,
    pub products: usize,
    pub customers: usize,
    pub orders: usize,
    pub prescriptions: usize,
    /// Workshop jobs; each belongs to a different order, so never more than `orders`.
    pub jobs: usize,
    /// Staff users (managers, sales, optometrists, technicians).
    pub staff: usize,
    pub admins: usize,
}

impl Counts {
    /// The reference chain (`--scale 1`).
    pub const SCALE_1: Counts = Counts {
        stores: 50,
        categories: 40,
        products: 20_000,
        customers: 200_000,
        orders: 1_000_000,
        prescriptions: 300_000,
        jobs: 400_000,
        staff: 500,
        admins: 3,
    };

    /// Every reference count times `scale`, rounded, at least 1.
    pub fn for_scale(scale: f64) -> Counts {
        let n = |base: usize| ((base as f64 * scale).round() as usize).max(1);
        let base = Self::SCALE_1;
        let orders = n(base.orders);
        Counts {
            stores: n(base.stores),
            categories: n(base.categories),
            products: n(base.products),
            customers: n(base.customers),
            orders,
            prescriptions: n(base.prescriptions),
            jobs: n(base.jobs).min(orders),
            staff: n(base.staff),
            admins: n(base.admins),
        }
    }

    /// One inventory row per (product, store).
    pub fn inventory(&self) -> usize {
        self.products * self.stores
    }

    pub fn users(&self) -> usize {
        self.staff + self.admins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_one_is_the_reference_and_tiny_scales_keep_one_of_each() {
        assert_eq!(Counts::for_scale(1.0), Counts::SCALE_1);
        assert_eq!(Counts::SCALE_1.inventory(), 1_000_000);
        let small = Counts::for_scale(0.01);
        assert_eq!(
            (
                small.stores,
                small.categories,
                small.products,
                small.customers
            ),
            (1, 1, 200, 2_000)
        );
        assert_eq!(
            (small.orders, small.jobs, small.prescriptions),
            (10_000, 4_000, 3_000)
        );
        assert_eq!((small.staff, small.admins), (5, 1));
        let tiny = Counts::for_scale(0.000_001);
        assert!(tiny.orders >= 1 && tiny.jobs <= tiny.orders && tiny.customers >= 1);
    }
}
