//! The small demo data set `ims seed` loads (`scripts/run`): a small but whole chain, so every
//! screen of a client shows something real. It is the generator's chain ([`crate::generator`])
//! at a fixed, small size with a short history:
//!
//! - 3 stores with their staff (managers, sales, optometrists, technicians; the generated
//!   accounts share [`crate::generator::STAFF_PASSWORD`]),
//! - a catalogue of frames, sunglasses, lenses, contact lenses and accessories with stock in
//!   every store, each stock row the sum of its movements and each product's total the sum of
//!   its rows, sales figures summed from the orders,
//! - customers with prescriptions,
//! - a few hundred orders over the last six weeks in every status (pending to delivered, and
//!   cancelled), with their payments,
//! - workshop jobs for the spectacle orders in every state, each with its history.
//!
//! Deterministic (one seed; dates are relative to the start of the current hour) and loaded in
//! one transaction with COPY, in about a second. Idempotent: it does nothing when the database
//! already has data, so re-running set-up never duplicates it.

use sqlx::PgPool;

use crate::generator::{generate, Counts, GenerateError, Options};

/// The demo chain's size.
pub const DEMO_COUNTS: Counts = Counts {
    stores: 3,
    categories: 12,
    products: 120,
    customers: 150,
    orders: 400,
    prescriptions: 90,
    jobs: 140,
    staff: 15,
    admins: 1,
};

/// Days of order history: recent enough that the dashboard's 30 days and the open orders and
/// jobs are full, long enough that some orders are delivered or archived from the lists.
pub const DEMO_HISTORY_DAYS: u32 = 42;

/// The demo chain's seed: the same data on every machine (within the same hour).
pub const DEMO_SEED: u64 = 2_024;

/// The options [`load_demo_data`] generates with.
pub fn demo_options() -> Options {
    Options {
        counts: Some(DEMO_COUNTS),
        history_days: Some(DEMO_HISTORY_DAYS),
        ..Options::new(1.0, DEMO_SEED)
    }
}

/// Loads the demo data unless the database already has data; returns whether it loaded.
pub async fn load_demo_data(pool: &PgPool) -> Result<bool, GenerateError> {
    match generate(pool, &demo_options()).await {
        Ok(_) => Ok(true),
        Err(GenerateError::NotEmpty(_)) => Ok(false),
        Err(e) => Err(e),
    }
}
