//! Placing an order: the customer, store and products checked, the stock rows locked, the
//! order written, then the stock moved, in one transaction.

use chrono::{DateTime, Utc};
use domain::catalog::{ProductStatus, StoreStatus};
use domain::ids::{OrderId, ProductId, UserId};
use domain::inventory::MovementKind;
use domain::money::Money;
use domain::order::{Line, NewOrder, Order, OrderItem, PaymentStatus};
use sqlx::{PgConnection, PgPool};

use super::{OrderRow, COLUMNS};
use crate::idempotency::{self, Done, IdempotencyKey};
use crate::stock::{self, StockChange, StockFigures};
use crate::{Error, Result};

/// A placed order, and the stock figures its sales left (what the cache moves forward to).
#[derive(Debug)]
pub struct Placed {
    pub order: Order,
    pub figures: StockFigures,
}

/// A new order id for now, and the `created_at` it encodes.
fn new_order_id() -> (OrderId, DateTime<Utc>) {
    loop {
        let id = OrderId::generate();
        if let Some(at) = id.created_at() {
            return (id, at);
        }
    }
}

/// Places an order in one transaction: checks the customer, and that the store trades and the
/// products are for sale (the domain's rules, on the rows as locked here), takes the
/// stock of every line or of none (locking the store's rows in product order, so concurrent
/// orders queue instead of overselling or deadlocking), copies customer and product details
/// into the order, and stores the response `render` makes under the idempotency key.
#[tracing::instrument(skip_all, fields(store_id = %order.store_id))]
pub async fn place_order(
    pool: &PgPool,
    order: &NewOrder,
    created_by: UserId,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&Order) -> idempotency::Rendered,
) -> Result<Done<Placed>> {
    crate::monitoring::timed("orders.place", async move {
        let mut tries = 1;
        loop {
            let mut attempt = idempotency::begin_or_replay!(pool, key);
            match place_order_in(attempt.conn(), order, created_by).await {
                Ok(placed) => {
                    attempt.finish(|| render(&placed.order)).await?;
                    return Ok(Done::New(placed));
                }
                // Orders lock their rows in product order, but two orders for the same
                // products at different stores have still been seen (rarely, on a loaded
                // machine) to deadlock in the stock statement. The victim's transaction was
                // rolled back whole, its key claim with it, so placing it again is safe.
                Err(e) if e.is_retryable_conflict() && tries < PLACE_TRIES => {
                    drop(attempt);
                    tries += 1;
                    metrics::counter!("ims_db_conflict_retries_total", "write" => "order")
                        .increment(1);
                    tracing::warn!(error = %e, tries, "placing an order again after a lock conflict");
                }
                Err(e) => return Err(e),
            }
        }
    })
    .await
}

/// How many times an order is tried when PostgreSQL ends it to break a deadlock.
const PLACE_TRIES: u32 = 3;

async fn place_order_in(
    tx: &mut PgConnection,
    order: &NewOrder,
    created_by: UserId,
) -> Result<Placed> {
    let Checked {
        customer_name,
        customer_phone,
        items,
        sequence,
    } = checked(tx, order).await?;
    let changes: Vec<StockChange> = items
        .iter()
        .map(|item| StockChange {
            product_id: item.product_id,
            store_id: order.store_id,
            delta: -item.quantity,
            kind: MovementKind::Sale,
        })
        .collect();
    // The store's stock rows are locked (and a short line refused) before the order is
    // written; the stock itself moves last, after the order, because moving it locks the
    // products' chain-wide rows, which every sale of those products in every store waits for
    // until this transaction commits.
    let stock = stock::lock(tx, &changes).await?;

    let (id, created_at) = new_order_id();
    let number = domain::order::order_number(chrono::Datelike::year(&created_at), sequence);
    let total: Money = items.iter().map(|i| i.line_total).sum();
    let record: Order = sqlx::query_as::<_, OrderRow>(&format!(
        "WITH numbered AS (
             INSERT INTO order_keys (order_id, order_number, created_at) VALUES ($1, $3, $2))
         INSERT INTO orders (id, created_at, order_number, store_id, customer_id, customer_name,
            customer_phone, items, total, payment_status, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(created_at)
    .bind(&number)
    .bind(order.store_id)
    .bind(order.customer_id)
    .bind(&customer_name)
    .bind(&customer_phone)
    .bind(sqlx::types::Json(&items))
    .bind(total)
    .bind(PaymentStatus::of(Money::ZERO, total).as_str())
    .bind(created_by)
    .fetch_one(&mut *tx)
    .await?
    .into();

    let context = stock::Context {
        order_id: Some(id),
        actor_id: Some(created_by),
        ..Default::default()
    };
    let applied = stock.apply(tx, &context).await?;
    Ok(Placed {
        order: record,
        figures: applied.figures,
    })
}

/// What an order copies from its customer and catalogue, once the domain has accepted them.
struct Checked {
    customer_name: String,
    customer_phone: String,
    items: Vec<OrderItem>,
    /// The order number's sequence, drawn by the same statement.
    sequence: i64,
}

/// The customer, the store and the products an order names, read in one statement, and the
/// domain's rules on them: the customer and store exist, the store trades, every product
/// exists and is for sale. Lines of one product are merged and priced from the catalogue.
async fn checked(tx: &mut PgConnection, order: &NewOrder) -> Result<Checked> {
    let merged = order.merged_lines();
    let ids: Vec<ProductId> = merged.iter().map(|(_, line)| line.product_id).collect();
    // One row per product found, or one row without a product; the customer's and store's
    // columns are null when there is no such row. The order number is drawn here too, not
    // in a statement of its own after the stock rows are locked: those locks make every
    // other sale of the store's products wait, so they are held one round trip shorter. A
    // refused order leaves a gap in the numbers, as a rolled-back one always did.
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<ProductId>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "WITH one AS MATERIALIZED (SELECT nextval('order_number_seq') AS sequence)
         SELECT c.name, c.phone, s.status, p.id, p.sku, p.name, p.price, p.status, one.sequence
         FROM one
         LEFT JOIN customers c ON c.id = $1
         LEFT JOIN stores s ON s.id = $2
         LEFT JOIN products p ON p.id = ANY($3)",
    )
    .bind(order.customer_id)
    .bind(order.store_id)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    // The statement answers at least its one row.
    let Some(first) = rows.first() else {
        return Err(Error::rejected("customerId", "no customer with this id"));
    };
    let (Some(customer_name), Some(customer_phone)) = (first.0.clone(), first.1.clone()) else {
        return Err(Error::rejected("customerId", "no customer with this id"));
    };
    let store_status: StoreStatus = first
        .2
        .as_deref()
        .ok_or_else(|| Error::rejected("storeId", "no store with this id"))?
        .parse()?;
    let sequence = first.8;
    store_status
        .ensure_trading()
        .map_err(|message| Error::rejected("storeId", message))?;

    let mut items = Vec::with_capacity(merged.len());
    for (
        index,
        Line {
            product_id,
            quantity,
        },
    ) in merged
    {
        let field = format!("items[{index}].productId");
        let Some((_, _, _, _, Some(sku), Some(name), Some(price), Some(status), _)) =
            rows.iter().find(|row| row.3 == Some(product_id))
        else {
            return Err(Error::rejected(field, "no product with this id"));
        };
        status
            .parse::<ProductStatus>()?
            .ensure_for_sale()
            .map_err(|message| Error::rejected(field, message))?;
        let unit_price = Money::from_minor(*price);
        items.push(OrderItem {
            product_id,
            sku: sku.clone(),
            name: name.clone(),
            quantity,
            unit_price,
            line_total: unit_price.times(quantity),
        });
    }
    Ok(Checked {
        customer_name,
        customer_phone,
        items,
        sequence,
    })
}
