//! The catalogue: products, their filters, full-text search and bestsellers.

use chrono::{DateTime, Utc};
use domain::catalog::{Money, ProductStatus, Sku};
use domain::ids::{CategoryId, ProductId, StoreId};
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::idempotency::{self, Done, IdempotencyKey};
use crate::page::{push_keyset, Direction};
use crate::{After, Page, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProductRecord {
    pub id: ProductId,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category_id: CategoryId,
    pub brand: String,
    pub price: i64,
    pub cost: Option<i64>,
    #[sqlx(try_from = "String")]
    pub status: ProductStatus,
    pub attributes: serde_json::Value,
    pub quantity: i32,
    pub sales_count: i64,
    /// Bumped with `quantity` and `sales_count` by every stock change (migration 0004).
    pub stock_seq: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the cache needs of a product after its stock changed: how it is keyed (id, sku) and
/// listed (category), and its stock figures with their sequence.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StockIdentity {
    pub id: ProductId,
    pub sku: String,
    pub category_id: CategoryId,
    pub stock_seq: i64,
    pub quantity: i32,
    pub sales_count: i64,
}

pub struct NewProduct {
    pub sku: Sku,
    pub name: String,
    pub description: String,
    pub category_id: CategoryId,
    pub brand: String,
    pub price: Money,
    pub cost: Option<Money>,
    pub status: ProductStatus,
    pub attributes: serde_json::Value,
}

/// `cost` is doubly optional: `Some(None)` clears it.
#[derive(Default)]
pub struct ProductChanges {
    pub sku: Option<Sku>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub category_id: Option<CategoryId>,
    pub brand: Option<String>,
    pub price: Option<Money>,
    pub cost: Option<Option<Money>>,
    pub status: Option<ProductStatus>,
    pub attributes: Option<serde_json::Value>,
}

/// A product before and after an update: the cache must forget the old sku and category too.
pub struct UpdatedProduct {
    pub before: ProductRecord,
    pub after: ProductRecord,
}

/// The orders `GET /products` can be sorted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductSort {
    Name,
    Price,
    PriceDesc,
    SalesDesc,
    /// Best match first; only with a search query.
    Relevance,
}

#[derive(Debug, Default)]
pub struct ProductFilter {
    /// Search words, already split and lower-cased by [`search_terms`].
    pub search: Option<SearchTerms>,
    pub category_id: Option<CategoryId>,
    pub brand: Option<String>,
    pub status: Option<ProductStatus>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub in_stock: Option<bool>,
}

/// A search query made safe for `to_tsquery`: words of letters and digits only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerms {
    words: Vec<String>,
}

/// Splits a user's query into at most 8 lower-case words; `None` when it has no letter or digit.
pub fn search_terms(q: &str) -> Option<SearchTerms> {
    let words: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(str::to_lowercase)
        .collect();
    (!words.is_empty()).then_some(SearchTerms { words })
}

/// The search as a CTE `q(query, exact)`: `exact` matches every word as typed (as a prefix);
/// `query` also accepts, for each word, up to three catalogue words it may be a typo of
/// (trigram candidates through `search_words_trgm_idx`, kept when at most 1 edit away for
/// short words and 2 for longer ones). Both are built from sanitized words only.
fn push_search_cte(qb: &mut QueryBuilder<'_, Postgres>, search: &SearchTerms) {
    qb.push(
        "WITH q AS MATERIALIZED (
            SELECT to_tsquery('simple', string_agg(alts, ' & ' ORDER BY ord)) AS query,
                   to_tsquery('simple', string_agg(t.w || ':*', ' & ' ORDER BY ord)) AS exact
            FROM unnest(",
    )
    .push_bind(search.words.clone())
    .push(
        "::text[]) WITH ORDINALITY AS t(w, ord)
            CROSS JOIN LATERAL (
                SELECT '(' || t.w || ':*' || coalesce(string_agg(' | ' || c.word, ''), '') || ')' AS alts
                FROM (SELECT word FROM search_words
                      WHERE length(t.w) >= 3 AND word % t.w
                        AND levenshtein_less_equal(word, t.w, 2) <= CASE WHEN length(t.w) <= 4 THEN 1 ELSE 2 END
                      ORDER BY similarity(word, t.w) DESC, word LIMIT 3) AS c
            ) AS a
        ) ",
    );
}

const COLUMNS: &str = "id, sku, name, description, category_id, brand, price, cost, status, \
                       attributes, quantity, sales_count, stock_seq, created_at, updated_at";

/// With `key`, a retry of the same request returns the first response (`render`ed in the
/// insert's transaction) instead of a second record or a 409.
pub async fn insert_product(
    pool: &PgPool,
    product: &NewProduct,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&ProductRecord) -> idempotency::Rendered,
) -> Result<Done<ProductRecord>> {
    let mut attempt = idempotency::begin_or_replay!(pool, key);
    let sql = format!(
        "INSERT INTO products (id, sku, name, description, category_id, brand, price, cost, status, attributes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}"
    );
    let record: ProductRecord = sqlx::query_as(&sql)
        .bind(ProductId::generate())
        .bind(product.sku.as_str())
        .bind(&product.name)
        .bind(&product.description)
        .bind(product.category_id)
        .bind(&product.brand)
        .bind(product.price.minor())
        .bind(product.cost.map(Money::minor))
        .bind(product.status.as_str())
        .bind(&product.attributes)
        .fetch_one(attempt.conn())
        .await?;
    attempt.finish(|| render(&record)).await?;
    Ok(Done::New(record))
}

pub async fn product_by_id(pool: &PgPool, id: ProductId) -> Result<ProductRecord> {
    crate::monitoring::timed("products.by_id", async move {
        let sql = format!("SELECT {COLUMNS} FROM products WHERE id = $1");
        Ok(sqlx::query_as(&sql).bind(id).fetch_one(pool).await?)
    })
    .await
}

/// The products of `ids` that exist, in no particular order: the bodies of a cached page
/// of ids that were not in the cache.
pub async fn products_by_ids(pool: &PgPool, ids: &[ProductId]) -> Result<Vec<ProductRecord>> {
    crate::monitoring::timed("products.by_ids", async move {
        let sql = format!("SELECT {COLUMNS} FROM products WHERE id = ANY($1)");
        Ok(sqlx::query_as(&sql).bind(ids).fetch_all(pool).await?)
    })
    .await
}

/// The tail of the lookup by SKU; public so `ims explain` (crate `seed`) plans this very text.
pub const BY_SKU: &str = "FROM products WHERE sku = $1";

pub async fn product_by_sku(pool: &PgPool, sku: &Sku) -> Result<ProductRecord> {
    crate::monitoring::timed("products.by_sku", async move {
        let sql = format!("SELECT {COLUMNS} {BY_SKU}");
        Ok(sqlx::query_as(&sql)
            .bind(sku.as_str())
            .fetch_one(pool)
            .await?)
    })
    .await
}

/// Each product's [`StockIdentity`], read after a stock change commits.
pub async fn cache_identities(pool: &PgPool, ids: &[ProductId]) -> Result<Vec<StockIdentity>> {
    Ok(sqlx::query_as(
        "SELECT id, sku, category_id, stock_seq, quantity, sales_count
         FROM products WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?)
}

/// The stores that hold a row for a product (whose stock lists show its name and sku).
pub async fn stores_stocking(pool: &PgPool, id: ProductId) -> Result<Vec<StoreId>> {
    Ok(
        sqlx::query_scalar("SELECT store_id FROM inventory WHERE product_id = $1")
            .bind(id)
            .fetch_all(pool)
            .await?,
    )
}

/// Active products by units sold, most first.
pub async fn bestsellers(pool: &PgPool, limit: i64) -> Result<Vec<ProductRecord>> {
    crate::monitoring::timed("products.bestsellers", async move {
        let sql = format!(
            "SELECT {COLUMNS} FROM products WHERE status = 'active'
             ORDER BY sales_count DESC, id DESC LIMIT $1"
        );
        Ok(sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?)
    })
    .await
}

/// `GET /products` and `GET /categories/{id}/products`: filters, search and one sort order.
#[tracing::instrument(skip_all)]
pub async fn list_products(
    pool: &PgPool,
    filter: &ProductFilter,
    sort: ProductSort,
    limit: i64,
    after: Option<&After>,
) -> Result<Page<ProductRecord>> {
    crate::monitoring::timed("products.list", async move {
        let mut qb = list_products_query("", filter, sort, limit, after);
        let rows: Vec<ProductRecord> = qb.build_query_as().fetch_all(pool).await?;
        if sort == ProductSort::Relevance {
            let offset = match after {
                Some(After::Offset(n)) => *n,
                _ => 0,
            };
            return Ok(Page::from_rows(rows, limit, |_| {
                After::Offset(offset + limit)
            }));
        }
        Ok(Page::from_rows(rows, limit, |p| match sort {
            ProductSort::Price | ProductSort::PriceDesc => After::Int(p.price, p.id.uuid()),
            ProductSort::SalesDesc => After::Int(p.sales_count, p.id.uuid()),
            ProductSort::Name | ProductSort::Relevance => After::Text(p.name.clone(), p.id.uuid()),
        }))
    })
    .await
}

/// The SQL of a product list (after `prefix`, which `ims explain` sets to `EXPLAIN ...`).
pub fn list_products_query<'a>(
    prefix: &str,
    filter: &ProductFilter,
    sort: ProductSort,
    limit: i64,
    after: Option<&After>,
) -> QueryBuilder<'a, Postgres> {
    let mut qb = QueryBuilder::new(prefix.to_owned());
    if let Some(search) = &filter.search {
        push_search_cte(&mut qb, search);
    }
    if sort == ProductSort::Relevance && filter.search.is_some() {
        let offset = match after {
            Some(After::Offset(n)) => *n,
            _ => 0,
        };
        // Matches of the words as typed come before matches that needed a correction; then
        // by weighted rank (name and brand over description); the id keeps equal ranks in a
        // stable order across pages. `ts_rank`, not `ts_rank_cd`: a common word matches
        // thousands of products, every one ranked, and cover density (word proximity, which
        // hardly matters in a product name) cost 40% more per search (docs/benchmarks.md).
        // The matches are ranked by id and rank alone and the page's rows read after: the
        // sort copies every match it is given, and whole rows made it a fifth slower.
        qb.push(
            ", ranked AS MATERIALIZED (
                SELECT id, search @@ (SELECT exact FROM q) AS typed,
                       ts_rank(search, (SELECT query FROM q)) AS rank
                FROM products WHERE true",
        );
        push_filters(&mut qb, filter);
        qb.push(" ORDER BY typed DESC, rank DESC, id LIMIT ")
            .push_bind(limit + 1)
            .push(" OFFSET ")
            .push_bind(offset);
        qb.push(format_args!(
            ") SELECT {COLUMNS} FROM ranked JOIN products USING (id)
             ORDER BY ranked.typed DESC, ranked.rank DESC, id"
        ));
        return qb;
    }
    qb.push(format_args!("SELECT {COLUMNS} FROM products WHERE true"));
    push_filters(&mut qb, filter);
    let (column, dir) = match sort {
        ProductSort::Name | ProductSort::Relevance => ("name", Direction::Asc),
        ProductSort::Price => ("price", Direction::Asc),
        ProductSort::PriceDesc => ("price", Direction::Desc),
        ProductSort::SalesDesc => ("sales_count", Direction::Desc),
    };
    if let Some(after) = after {
        push_keyset(&mut qb, column, "id", dir, after);
    }
    let d = dir.sql();
    qb.push(format_args!(" ORDER BY {column} {d}, id {d} LIMIT "))
        .push_bind(limit + 1);
    qb
}

fn push_filters(qb: &mut QueryBuilder<'_, Postgres>, filter: &ProductFilter) {
    if filter.search.is_some() {
        // Every word (as a prefix, or as one of its likely corrections) through the GIN index.
        qb.push(" AND search @@ (SELECT query FROM q)");
    }
    if let Some(category) = filter.category_id {
        qb.push(" AND category_id = ").push_bind(category);
    }
    if let Some(brand) = &filter.brand {
        qb.push(" AND brand = ").push_bind(brand.clone());
    }
    if let Some(status) = filter.status {
        qb.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(min) = filter.min_price {
        qb.push(" AND price >= ").push_bind(min);
    }
    if let Some(max) = filter.max_price {
        qb.push(" AND price <= ").push_bind(max);
    }
    match filter.in_stock {
        Some(true) => qb.push(" AND quantity > 0"),
        Some(false) => qb.push(" AND quantity = 0"),
        None => qb,
    };
}

/// Applies `changes` and returns the row before and after, in one transaction.
/// With `key`, a retry of the same request (the client's, or the failover middleware's after a
/// lost primary) returns the first response (`render`ed in the update's transaction).
pub async fn update_product(
    pool: &PgPool,
    id: ProductId,
    changes: &ProductChanges,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&UpdatedProduct) -> idempotency::Rendered,
) -> Result<Done<UpdatedProduct>> {
    let mut attempt = idempotency::begin_or_replay!(pool, key);
    let tx = attempt.conn();
    let sql = format!("SELECT {COLUMNS} FROM products WHERE id = $1 FOR UPDATE");
    let before: ProductRecord = sqlx::query_as(&sql).bind(id).fetch_one(&mut *tx).await?;
    let sql = format!(
        "UPDATE products SET sku = coalesce($2, sku), name = coalesce($3, name),
            description = coalesce($4, description), category_id = coalesce($5, category_id),
            brand = coalesce($6, brand), price = coalesce($7, price),
            cost = CASE WHEN $8 THEN $9 ELSE cost END, status = coalesce($10, status),
            attributes = coalesce($11, attributes)
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    let after: ProductRecord = sqlx::query_as(&sql)
        .bind(id)
        .bind(changes.sku.as_ref().map(Sku::as_str))
        .bind(&changes.name)
        .bind(&changes.description)
        .bind(changes.category_id)
        .bind(&changes.brand)
        .bind(changes.price.map(Money::minor))
        .bind(changes.cost.is_some())
        .bind(changes.cost.flatten().map(Money::minor))
        .bind(changes.status.map(ProductStatus::as_str))
        .bind(&changes.attributes)
        .fetch_one(&mut *tx)
        .await?;
    let updated = UpdatedProduct { before, after };
    attempt.finish(|| render(&updated)).await?;
    Ok(Done::New(updated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_are_plain_words() {
        let t = search_terms("Ray-Ban  aviat'or! Ünïcode").expect("has words");
        assert_eq!(t.words, ["ray", "ban", "aviat", "or", "ünïcode"]);
        assert_eq!(search_terms("&|!:*()"), None);
        assert_eq!(
            search_terms(&"a ".repeat(20)).map(|t| t.words.len()),
            Some(8)
        );
    }
}
