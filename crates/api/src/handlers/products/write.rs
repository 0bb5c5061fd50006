//! `POST /products` and `PATCH /products/{id}`: the checks of a product's fields, and the
//! keys a write (or its replay) makes stale.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::catalog::{brand, Money, ProductStatus, Sku};
use domain::ids::{CategoryId, ProductId};
use domain::validation::optional;
use domain::{text, validate};
use serde::{Deserialize, Serialize};
use storage::idempotency::Done;
use storage::products::{NewProduct, ProductChanges};

use super::EDITORS;
use crate::auth::Auth;
use crate::cached::invalidate;
use crate::error::{ApiError, ApiResult, OrNotFound, Problem};
use crate::extract::{double_option, IdempotentBody, Nullable, Patch, Path};
use crate::idempotent::{key_of, replay, stored, stored_as};
use crate::state::AppState;
use crate::views::ProductView;
use cache::keys::{self, variant};
use cache::Stale;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateProduct {
    /// `[A-Z0-9][A-Z0-9-]{2,31}`, unique.
    sku: String,
    name: String,
    #[serde(default)]
    description: String,
    #[schema(value_type = Uuid)]
    category_id: CategoryId,
    brand: String,
    /// Minor units (paise).
    price: i64,
    cost: Option<i64>,
    #[schema(value_type = Option<crate::schema::ProductStatus>)]
    status: Option<ProductStatus>,
    /// Free-form attributes (frame size, material, lens index, ...): a JSON object.
    #[serde(default = "empty_object")]
    attributes: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// Free-form attributes (`{"material": "titanium", "lens": {"width": 52}}`), bounded so
/// that a product stays a small document: at most [`MAX_ATTRIBUTE_DEPTH`] levels of nesting,
/// strings of at most [`MAX_ATTRIBUTE_STRING`] characters, 16 KiB of JSON in all.
fn attributes(value: serde_json::Value) -> Result<serde_json::Value, String> {
    if !value.is_object() {
        return Err("must be a JSON object".into());
    }
    if value.to_string().len() > 16 * 1024 {
        return Err("must be at most 16 KiB of JSON".into());
    }
    check_attribute(&value, 1)?;
    Ok(value)
}

const MAX_ATTRIBUTE_DEPTH: usize = 4;
const MAX_ATTRIBUTE_STRING: usize = 2000;

fn check_attribute(value: &serde_json::Value, depth: usize) -> Result<(), String> {
    use serde_json::Value;
    let long = |s: &str| s.chars().count() > MAX_ATTRIBUTE_STRING;
    match value {
        Value::Object(_) | Value::Array(_) if depth > MAX_ATTRIBUTE_DEPTH => Err(format!(
            "must be nested at most {MAX_ATTRIBUTE_DEPTH} levels deep"
        )),
        Value::Object(map) => map.iter().try_for_each(|(key, v)| {
            if key.is_empty() || long(key) || key.contains('\0') {
                return Err(format!(
                    "names must be 1 to {MAX_ATTRIBUTE_STRING} characters without NUL"
                ));
            }
            check_attribute(v, depth + 1)
        }),
        Value::Array(items) => items.iter().try_for_each(|v| check_attribute(v, depth + 1)),
        Value::String(s) if long(s) || s.contains('\0') => Err(format!(
            "values must be at most {MAX_ATTRIBUTE_STRING} characters, without NUL"
        )),
        _ => Ok(()),
    }
}

/// Adds a product to the catalogue (admin, manager).
#[utoipa::path(post, path = "/api/v1/products", tag = "products", security(("bearer" = [])), request_body = CreateProduct,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 201, body = ProductView), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(super) async fn create_product(
    State(state): State<AppState>,
    auth: Auth,
    request: IdempotentBody<CreateProduct>,
) -> ApiResult<Response> {
    let key = key_of(&auth, &request);
    let body = request.body;
    auth.require(EDITORS)?;
    validate! {
        sku = "sku" => Sku::parse(&body.sku),
        name = "name" => text::name(&body.name),
        description = "description" => text::description(&body.description),
        brand = "brand" => brand(&body.brand),
        price = "price" => Money::price(body.price),
        cost = "cost" => optional(body.cost, Money::price),
        attributes = "attributes" => attributes(body.attributes),
    }
    let product = NewProduct {
        sku,
        name,
        description,
        category_id: body.category_id,
        brand,
        price,
        cost,
        status: body.status.unwrap_or(ProductStatus::Active),
        attributes,
    };
    let created = match storage::products::insert_product(
        state.db.primary(),
        &product,
        key.as_ref(),
        |record| stored(ProductView::from(record.clone())),
    )
    .await?
    {
        Done::New(created) => created,
        Done::Replay { status, body } => return Ok(replay(status, body)),
    };
    invalidate(
        &state,
        vec![
            keys::category_products(created.category_id),
            keys::product_search(),
            keys::bestsellers(),
        ],
    )
    .await;
    Ok((StatusCode::CREATED, Json(ProductView::from(created))).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateProduct {
    sku: Option<String>,
    name: Option<String>,
    description: Option<String>,
    #[schema(value_type = Option<Uuid>)]
    category_id: Option<CategoryId>,
    brand: Option<String>,
    price: Option<i64>,
    /// `null` clears the cost.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    cost: Option<Option<i64>>,
    #[schema(value_type = Option<crate::schema::ProductStatus>)]
    status: Option<ProductStatus>,
    attributes: Option<serde_json::Value>,
}

impl Nullable for UpdateProduct {
    const NULLABLE: &'static [&'static str] = &["cost"];
}

/// Changes a product (admin, manager). With an `Idempotency-Key` (or the key the failover
/// middleware makes up), a retry returns the first answer; its cache work is done again.
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "products", security(("bearer" = [])), request_body = UpdateProduct,
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 200, body = ProductView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub(super) async fn update_product(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<ProductId>,
    request: IdempotentBody<serde_json::Value>,
) -> ApiResult<Response> {
    let Patch(body) = Patch::<UpdateProduct>::parse(&request.body)?;
    let key = key_of(&auth, &request);
    auth.require(EDITORS)?;
    validate! {
        sku = "sku" => optional(body.sku.as_deref(), Sku::parse),
        name = "name" => optional(body.name.as_deref(), text::name),
        description = "description" => optional(body.description.as_deref(), text::description),
        brand = "brand" => optional(body.brand.as_deref(), brand),
        price = "price" => optional(body.price, Money::price),
        cost = "cost" => optional(body.cost, |c| optional(c, Money::price)),
        attributes = "attributes" => optional(body.attributes, attributes),
    }
    let changes = ProductChanges {
        sku,
        name,
        description,
        category_id: body.category_id,
        brand,
        price,
        cost,
        status: body.status,
        attributes,
    };
    let done = storage::products::update_product(
        state.db.primary(),
        id,
        &changes,
        key.as_ref(),
        |updated| {
            let stored = StoredUpdate {
                answer: ProductView::from(updated.after.clone()),
                was: Was {
                    sku: updated.before.sku.clone(),
                    category_id: updated.before.category_id,
                },
            };
            stored_as(StatusCode::OK, stored)
        },
    )
    .await
    .or_not_found("product")?;
    match done {
        Done::New(updated) => {
            let stale = stale_after_update(&state, &updated).await?;
            invalidate(&state, stale).await;
            Ok(Json(ProductView::from(updated.after)).into_response())
        }
        Done::Replay { status, body } => {
            let stored: StoredUpdate<serde_json::Value> =
                serde_json::from_value(body).map_err(|e| {
                    ApiError::Internal(anyhow::Error::new(e).context("a stored product update"))
                })?;
            invalidate(&state, stale_after_replay(&state, id, &stored.was).await?).await;
            Ok(replay(status, stored.answer))
        }
    }
}

/// What a product update keeps for a replay: its answer, and the sku and category the product
/// had, whose keys the first attempt forgot and a replay must forget again (in case that
/// attempt committed and failed before its cache work), though the answer does not name them.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredUpdate<A> {
    answer: A,
    was: Was,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Was {
    sku: String,
    category_id: CategoryId,
}

/// What a replayed update makes stale: what the first attempt changed is not known then, so
/// every key any update of the product could have made stale.
async fn stale_after_replay(state: &AppState, id: ProductId, was: &Was) -> ApiResult<Vec<Stale>> {
    let now = storage::products::product_by_id(state.db.primary(), id)
        .await
        .or_not_found("product")?;
    let mut stale: Vec<Stale> = vec![
        keys::product(id).into(),
        keys::product_sku(&was.sku).into(),
        keys::product_sku(&now.sku).into(),
        keys::category_products(was.category_id).into(),
        keys::category_products(now.category_id).into(),
        keys::product_search().into(),
        keys::bestsellers().into(),
    ];
    let stores = storage::products::stores_stocking(state.db.primary(), id).await?;
    stale.extend(stores.into_iter().map(|s| keys::store_inventory(s).into()));
    Ok(stale)
}

/// What a product update makes stale. Lists hold ids, so only a change of what they filter,
/// search or sort by forgets them: text, status or category all of a list key, a price only
/// its variants by price; the body itself is the product's own keys.
async fn stale_after_update(
    state: &AppState,
    updated: &storage::products::UpdatedProduct,
) -> ApiResult<Vec<Stale>> {
    let (before, after) = (&updated.before, &updated.after);
    let mut stale: Vec<Stale> = vec![
        keys::product(after.id).into(),
        keys::product_sku(&before.sku).into(),
        keys::product_sku(&after.sku).into(),
    ];
    let listed_differently = before.name != after.name
        || before.description != after.description
        || before.brand != after.brand
        || before.status != after.status
        || before.category_id != after.category_id;
    if listed_differently {
        // Both the old and the new category: a moved product must leave the old list.
        stale.push(keys::category_products(before.category_id).into());
        stale.push(keys::category_products(after.category_id).into());
        stale.push(keys::product_search().into());
        if before.status != after.status {
            stale.push(keys::bestsellers().into());
        }
    } else if before.price != after.price {
        stale.push(Stale::prefixed(
            keys::category_products(after.category_id),
            variant::AFTER_PRICE_CHANGE,
        ));
        stale.push(Stale::prefixed(
            keys::product_search(),
            variant::AFTER_PRICE_CHANGE,
        ));
    }
    if before.sku != after.sku || before.name != after.name {
        // Stock lists show the sku and name.
        let stores = storage::products::stores_stocking(state.db.primary(), after.id).await?;
        stale.extend(stores.into_iter().map(|s| keys::store_inventory(s).into()));
    }
    Ok(stale)
}
