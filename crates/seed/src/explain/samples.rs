//! The values `ims explain` runs the hot queries with, taken from the current database: the
//! best-selling product, a busy store, a customer with orders, and so on.

use domain::ids::{CategoryId, CustomerId, OrderId, ProductId, StoreId};
use sqlx::PgPool;

use storage::Result;

/// Values from the current database to run the queries with.
pub(super) struct Samples {
    pub(super) login: String,
    pub(super) sku: String,
    pub(super) category: CategoryId,
    pub(super) brand: String,
    pub(super) search_word: String,
    pub(super) store: StoreId,
    pub(super) product: ProductId,
    pub(super) customer: CustomerId,
    pub(super) order: OrderId,
    pub(super) order_created: chrono::DateTime<chrono::Utc>,
    pub(super) order_number: String,
    pub(super) patient: CustomerId,
}

pub(super) async fn samples(pool: &PgPool) -> Result<Samples> {
    let (login,): (String,) = sqlx::query_as("SELECT username FROM users ORDER BY id LIMIT 1")
        .fetch_one(pool)
        .await?;
    let (sku, category, brand, name, product): (String, CategoryId, String, String, ProductId) = sqlx::query_as(
        "SELECT sku, category_id, brand, name, id FROM products ORDER BY sales_count DESC, id LIMIT 1",
    )
    .fetch_one(pool)
    .await?;
    let (store,): (StoreId,) = sqlx::query_as("SELECT id FROM stores ORDER BY code LIMIT 1")
        .fetch_one(pool)
        .await?;
    let (order, order_created, order_number, customer): (OrderId, chrono::DateTime<chrono::Utc>, String, CustomerId) =
        sqlx::query_as("SELECT id, created_at, order_number, customer_id FROM orders ORDER BY created_at DESC LIMIT 1")
            .fetch_one(pool)
            .await?;
    let (patient,): (CustomerId,) =
        sqlx::query_as("SELECT patient_id FROM prescriptions ORDER BY id LIMIT 1")
            .fetch_one(pool)
            .await?;
    let search_word = name
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| w.len() >= 4)
        .unwrap_or(&name)
        .to_lowercase();
    Ok(Samples {
        login,
        sku,
        category,
        brand,
        search_word,
        store,
        product,
        customer,
        order,
        order_created,
        order_number,
        patient,
    })
}
