//! Cache warming, at start-up and on `ims cache warm`: the reads the day begins with (every
//! active category's first page of products, the bestsellers, the dashboards) are loaded
//! through the very functions the handlers use, so they land under the keys and variants the
//! handlers will ask for.

use std::time::{Duration, Instant};

use domain::catalog::CategoryStatus;

use crate::cached::cached_dashboard;
use crate::error::ApiResult;
use crate::handlers::categories;
use crate::listing::{cached_bestsellers, ProductQuery};
use crate::state::AppState;

/// What warming did.
#[derive(Debug, Clone, Copy)]
pub struct Warmed {
    pub keys: usize,
    pub elapsed: Duration,
}

pub async fn warm_cache(state: &AppState) -> ApiResult<Warmed> {
    let started = Instant::now();
    let mut warmed = 0;
    let mut after = None;
    loop {
        let page = storage::categories::list_categories(
            &state.db.read(),
            CategoryStatus::Active,
            100,
            after.as_ref(),
        )
        .await?;
        for category in &page.items {
            categories::category_products(state, category.id, ProductQuery::default()).await?;
            warmed += 1;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    cached_bestsellers(state, 10).await?;
    cached_dashboard(state, None, None).await?;
    warmed += 2;
    let mut after = None;
    loop {
        let page = storage::stores::list_stores(&state.db.read(), 100, after.as_ref()).await?;
        for store in &page.items {
            cached_dashboard(state, Some(store.id), Some(vec![store.id])).await?;
            warmed += 1;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(Warmed {
        keys: warmed,
        elapsed: started.elapsed(),
    })
}
