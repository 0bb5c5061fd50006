//! The small demo data set `ims seed` loads: a few stores, the usual optical categories,
//! recognisable products with stock in every store, and some customers. Idempotent: it does
//! nothing when stores already exist, so re-running set-up never duplicates data.

use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

const STORES: &[(&str, &str, &str, &str)] = &[
    ("MUM-01", "Bandra West", "Mumbai", "+912226400001"),
    ("DEL-01", "Connaught Place", "Delhi", "+911123400002"),
    ("BLR-01", "Indiranagar", "Bengaluru", "+918025200003"),
];

const CATEGORIES: &[(&str, &str)] = &[
    ("Frames", "Spectacle frames: full-rim, half-rim and rimless"),
    ("Sunglasses", "Sunglasses with and without prescription"),
    (
        "Spectacle Lenses",
        "Single vision, bifocal and progressive lenses",
    ),
    ("Contact Lenses", "Daily, monthly and toric contact lenses"),
    ("Accessories", "Cases, cleaning kits and solutions"),
];

/// (sku, name, description, category index, brand, price in paise)
const PRODUCTS: &[(&str, &str, &str, usize, &str, i64)] = &[
    (
        "RB-3025-001",
        "Aviator Classic",
        "Iconic metal aviator sunglasses with green G-15 lenses",
        1,
        "Ray-Ban",
        1_090_000,
    ),
    (
        "RB-5154-2000",
        "Clubmaster Optics",
        "Browline acetate frame, black on gold",
        0,
        "Ray-Ban",
        890_000,
    ),
    (
        "OK-8046-01",
        "Airdrop Titanium",
        "Lightweight titanium rectangle frame for everyday wear",
        0,
        "Oakley",
        1_250_000,
    ),
    (
        "TT-FR-2210",
        "Round Acetate Tortoise",
        "Round tortoise-shell acetate frame, unisex",
        0,
        "Titan Eye+",
        320_000,
    ),
    (
        "LK-AIR-BLU",
        "Air Flex Blue Cut",
        "Flexible TR90 frame with blue-light filtering lenses",
        0,
        "Lenskart",
        250_000,
    ),
    (
        "ES-VAR-X-160",
        "Varilux X Series 1.60",
        "Progressive lenses with extended near vision",
        2,
        "Essilor",
        1_800_000,
    ),
    (
        "ZS-SV-156",
        "SmartLife Single Vision 1.56",
        "Single vision lenses with anti-reflective coating",
        2,
        "Zeiss",
        650_000,
    ),
    (
        "HY-BIF-150",
        "Bifocal Flat-Top 1.50",
        "Classic flat-top bifocal lenses",
        2,
        "Hoya",
        420_000,
    ),
    (
        "AC-OASYS-6",
        "Acuvue Oasys 6 pack",
        "Two-week silicone hydrogel contact lenses",
        3,
        "Johnson & Johnson",
        240_000,
    ),
    (
        "BL-BIOTRUE-30",
        "Biotrue ONEday 30 pack",
        "Daily disposable contact lenses",
        3,
        "Bausch + Lomb",
        180_000,
    ),
    (
        "AL-DAILIES-TORIC",
        "Dailies AquaComfort Toric",
        "Daily toric lenses for astigmatism",
        3,
        "Alcon",
        290_000,
    ),
    (
        "AC-CASE-HARD",
        "Hard Shell Case",
        "Zip hard case for spectacles",
        4,
        "IMS",
        45_000,
    ),
    (
        "AC-CLEAN-KIT",
        "Lens Cleaning Kit",
        "Spray and microfibre cloth",
        4,
        "IMS",
        30_000,
    ),
    (
        "AC-SOL-360",
        "Multipurpose Solution 360 ml",
        "Contact lens cleaning and storage solution",
        4,
        "Renu",
        55_000,
    ),
];

const CUSTOMERS: &[(&str, &str)] = &[
    ("Anita Sharma", "+919820000001"),
    ("Rahul Verma", "+919820000002"),
    ("Priya Nair", "+919820000003"),
    ("Vikram Singh", "+919820000004"),
    ("Meera Iyer", "+919820000005"),
];

/// Loads the demo data unless the database already has stores; returns whether it loaded.
pub async fn load_demo_data(pool: &PgPool) -> Result<bool> {
    let mut tx = pool.begin().await?;
    // Serializes concurrent seeders; released at commit.
    sqlx::query("SELECT pg_advisory_xact_lock(4242001)")
        .execute(&mut *tx)
        .await?;
    let has_stores: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM stores)")
        .fetch_one(&mut *tx)
        .await?;
    if has_stores {
        return Ok(false);
    }
    let mut store_ids = Vec::new();
    for (code, name, city, phone) in STORES {
        let id = Uuid::now_v7();
        sqlx::query("INSERT INTO stores (id, code, name, city, phone) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(code)
            .bind(name)
            .bind(city)
            .bind(phone)
            .execute(&mut *tx)
            .await?;
        store_ids.push(id);
    }
    let mut category_ids = Vec::new();
    for (name, description) in CATEGORIES {
        let id = Uuid::now_v7();
        sqlx::query("INSERT INTO categories (id, name, description) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name)
            .bind(description)
            .execute(&mut *tx)
            .await?;
        category_ids.push(id);
    }
    for (i, (sku, name, description, category, brand, price)) in PRODUCTS.iter().enumerate() {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO products (id, sku, name, description, category_id, brand, price, cost, sales_count)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id).bind(sku).bind(name).bind(description).bind(category_ids[*category])
        .bind(brand).bind(price).bind(price * 55 / 100).bind((i as i64 * 7) % 40)
        .execute(&mut *tx).await?;
        for (s, store) in store_ids.iter().enumerate() {
            let quantity = ((i * 5 + s * 3) % 25) as i32;
            stock_initial(&mut tx, id, *store, quantity).await?;
        }
    }
    for (name, phone) in CUSTOMERS {
        sqlx::query("INSERT INTO customers (id, name, phone) VALUES ($1, $2, $3)")
            .bind(Uuid::now_v7())
            .bind(name)
            .bind(phone)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Opens an inventory row with its initial movement and adds it to the product's total, so
/// the movements-sum and total-quantity invariants hold from the first unit.
async fn stock_initial(
    tx: &mut sqlx::PgConnection,
    product: Uuid,
    store: Uuid,
    quantity: i32,
) -> Result<()> {
    sqlx::query("INSERT INTO inventory (product_id, store_id, quantity) VALUES ($1, $2, $3)")
        .bind(product)
        .bind(store)
        .bind(quantity)
        .execute(&mut *tx)
        .await?;
    if quantity > 0 {
        sqlx::query(
            "INSERT INTO inventory_movements (product_id, store_id, delta, kind, reason)
             VALUES ($1, $2, $3, 'initial', 'demo data')",
        )
        .bind(product)
        .bind(store)
        .bind(quantity)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE products SET quantity = quantity + $2 WHERE id = $1")
            .bind(product)
            .bind(quantity)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
