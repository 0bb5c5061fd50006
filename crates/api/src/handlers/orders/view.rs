//! An order as clients see it: the customer and every line as they were when it was placed.

use chrono::{DateTime, Utc};
use domain::ids::{CustomerId, OrderId, PaymentId, ProductId, StoreId, UserId};
use domain::money::Money;
use domain::order::{Order, OrderStatus, PaymentMethod, PaymentStatus};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderItemView {
    #[schema(value_type = Uuid)]
    product_id: ProductId,
    sku: String,
    name: String,
    quantity: i32,
    /// Minor units, as sold.
    #[schema(value_type = i64)]
    unit_price: Money,
    #[schema(value_type = i64)]
    line_total: Money,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    #[schema(value_type = Uuid)]
    id: PaymentId,
    #[schema(value_type = i64)]
    amount: Money,
    #[schema(value_type = crate::schema::PaymentMethod)]
    method: PaymentMethod,
    paid_at: DateTime<Utc>,
    #[schema(value_type = Option<Uuid>)]
    recorded_by: Option<UserId>,
}

/// A whole order in one read: the customer and every line as they were when it was placed.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    #[schema(value_type = Uuid)]
    pub(super) id: OrderId,
    /// `ORD-<year>-<6+ digits>`.
    pub(super) order_number: String,
    #[schema(value_type = Uuid)]
    pub(super) store_id: StoreId,
    #[schema(value_type = Uuid)]
    pub(super) customer_id: CustomerId,
    pub(super) customer_name: String,
    pub(super) customer_phone: String,
    pub(super) items: Vec<OrderItemView>,
    #[schema(value_type = i64)]
    pub(super) total: Money,
    #[schema(value_type = i64)]
    pub(super) amount_paid: Money,
    #[schema(value_type = i64)]
    pub(super) amount_due: Money,
    pub(super) payments: Vec<PaymentView>,
    #[schema(value_type = crate::schema::OrderStatus)]
    pub(super) status: OrderStatus,
    #[schema(value_type = crate::schema::PaymentStatus)]
    pub(super) payment_status: PaymentStatus,
    #[schema(value_type = Option<Uuid>)]
    pub(super) created_by: Option<UserId>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    /// Present, and `true`, only for an order of an archived month (`ims archive`): it is
    /// read from the archive and read-only (a payment, status change or job for it is 409).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) archived: bool,
}

impl From<Order> for OrderView {
    fn from(o: Order) -> Self {
        let amount_due = o.amount_due();
        Self {
            id: o.id,
            order_number: o.order_number,
            store_id: o.store_id,
            customer_id: o.customer_id,
            customer_name: o.customer_name,
            customer_phone: o.customer_phone,
            items: o
                .items
                .into_iter()
                .map(|i| OrderItemView {
                    product_id: i.product_id,
                    sku: i.sku,
                    name: i.name,
                    quantity: i.quantity,
                    unit_price: i.unit_price,
                    line_total: i.line_total,
                })
                .collect(),
            amount_due,
            total: o.total,
            amount_paid: o.amount_paid,
            payments: o
                .payments
                .into_iter()
                .map(|p| PaymentView {
                    id: p.id,
                    amount: p.amount,
                    method: p.method,
                    paid_at: p.paid_at,
                    recorded_by: p.recorded_by,
                })
                .collect(),
            status: o.status,
            payment_status: o.payment_status,
            created_by: o.created_by,
            created_at: o.created_at,
            updated_at: o.updated_at,
            archived: o.archived,
        }
    }
}
