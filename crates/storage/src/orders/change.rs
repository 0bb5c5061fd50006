//! Changes to a placed order, each on the order's row locked: its status (cancelling
//! returns the stock) and its payments.

use chrono::Utc;
use domain::ids::{OrderId, PaymentId, UserId};
use domain::inventory::MovementKind;
use domain::money::Money;
use domain::order::{Order, OrderStatus, Payment, PaymentMethod};
use sqlx::{PgConnection, PgPool};

use super::{OrderRow, COLUMNS};
use crate::idempotency::{self, Done, IdempotencyKey};
use crate::stock::{self, StockChange};
use crate::{Error, Result};

async fn lock_order(tx: &mut PgConnection, id: OrderId) -> Result<Order> {
    let created_at = id.created_at().ok_or(Error::NotFound)?;
    let row: OrderRow = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM orders WHERE id = $1 AND created_at = $2 FOR UPDATE"
    ))
    .bind(id)
    .bind(created_at)
    .fetch_one(&mut *tx)
    .await?;
    Ok(row.into())
}

/// Moves an order along its status machine; cancelling returns every line's stock. With
/// `key`, a retry of the same request (the client's, or the failover middleware's after a lost
/// primary) returns the first response (`render`ed in the change's transaction) instead of a
/// second change, which would be refused as a move from the new status.
#[tracing::instrument(skip_all, fields(order_id = %id))]
pub async fn change_order_status(
    pool: &PgPool,
    id: OrderId,
    next: OrderStatus,
    actor: UserId,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&Order) -> idempotency::Rendered,
) -> Result<Done<Order>> {
    crate::monitoring::timed("orders.change_status", async move {
        let mut attempt = idempotency::begin_or_replay!(pool, key);
        let tx = attempt.conn();
        let mut order = lock_order(tx, id).await?;
        order.change_status(next).map_err(Error::InvalidState)?;
        if next == OrderStatus::Cancelled {
            let changes: Vec<StockChange> = order
                .items
                .iter()
                .map(|i| StockChange {
                    product_id: i.product_id,
                    store_id: order.store_id,
                    delta: i.quantity,
                    kind: MovementKind::Cancellation,
                })
                .collect();
            let context = stock::Context {
                order_id: Some(id),
                actor_id: Some(actor),
                ..Default::default()
            };
            stock::apply(tx, &changes, &context).await?;
        }
        let updated: Order = sqlx::query_as::<_, OrderRow>(&format!(
            "UPDATE orders SET status = $3 WHERE id = $1 AND created_at = $2 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(order.created_at)
        .bind(order.status.as_str())
        .fetch_one(&mut *tx)
        .await?
        .into();
        attempt.finish(|| render(&updated)).await?;
        Ok(Done::New(updated))
    })
    .await
}

/// A payment to record; its amount is from `domain::order::payment_amount`.
pub struct NewPayment {
    pub amount: Money,
    pub method: PaymentMethod,
    pub recorded_by: UserId,
}

/// Records a payment on the order as locked here; the domain refuses one on a cancelled order
/// or above the amount due (`Order::record_payment`).
pub async fn add_payment(
    pool: &PgPool,
    id: OrderId,
    payment: &NewPayment,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&Order) -> idempotency::Rendered,
) -> Result<Done<Order>> {
    let NewPayment {
        amount,
        method,
        recorded_by: actor,
    } = *payment;
    crate::monitoring::timed("orders.add_payment", async move {
        let mut attempt = idempotency::begin_or_replay!(pool, key);
        let tx = attempt.conn();
        let mut order = lock_order(tx, id).await?;
        let payment = Payment {
            id: PaymentId::generate(),
            amount,
            method,
            paid_at: Utc::now(),
            recorded_by: Some(actor),
        };
        order
            .record_payment(payment.clone())
            .map_err(|refused| Error::InvalidState(refused.to_string()))?;
        // Only the new payment is sent: the row appends it to those it holds.
        let updated: Order = sqlx::query_as::<_, OrderRow>(&format!(
            "UPDATE orders SET amount_paid = $3, payment_status = $4, payments = payments || $5
             WHERE id = $1 AND created_at = $2 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(order.created_at)
        .bind(order.amount_paid)
        .bind(order.payment_status.as_str())
        .bind(sqlx::types::Json(vec![payment]))
        .fetch_one(&mut *tx)
        .await?
        .into();
        attempt.finish(|| render(&updated)).await?;
        Ok(Done::New(updated))
    })
    .await
}
