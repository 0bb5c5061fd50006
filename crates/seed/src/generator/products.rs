//! The product catalogue: a mix of frames, sunglasses, spectacle lenses, contact lenses and
//! accessories with realistic names, brands, prices in paise and attributes; each kind's
//! popularity ranking (a few products sell most); and the `products` rows, whose `quantity`
//! and `sales_count` are filled in once stock and orders are planned.

use rand::Rng;
use uuid::Uuid;

use super::categories::{resolve, Kind};
use super::copy::{Sent, Sink};
use super::eyewear::{brand_weights, frame, tag_price};
use super::json::Obj;
use super::lenses::{contact_lens, spectacle_lens};
use super::rng::{chance, pick, shuffled, stream, uuid_v7, GenRng, Stream, Weighted};
use super::time::DAY;

/// A product before it has an id and sku: what the kind builders return.
pub(crate) struct Draft {
    pub name: String,
    pub description: String,
    pub brand: &'static str,
    pub sku_code: &'static str,
    pub price_rupees: i64,
    /// A JSON object.
    pub attributes: Vec<u8>,
    /// Index into `categories::CATEGORIES`.
    pub preferred: usize,
}

pub(crate) struct Product {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: usize,
    pub brand: &'static str,
    pub price: i64,
    pub cost: i64,
    pub status: &'static str,
    pub attributes: Vec<u8>,
    pub kind: Kind,
    pub created: i64,
    /// Sum of its inventory rows.
    pub quantity: i64,
    /// Units sold in orders that were not cancelled.
    pub sales: i64,
}

const KINDS: [Kind; 5] = [
    Kind::Frame,
    Kind::Sunglasses,
    Kind::Lens,
    Kind::Contact,
    Kind::Accessory,
];
const KIND_SHARE: [f64; 5] = [0.45, 0.20, 0.15, 0.10, 0.10];

/// (name pattern with `{}` for the variant, variants, brands, rupee band, category index)
type AccessoryLine = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    (i64, i64),
    usize,
);

#[rustfmt::skip]
const ACCESSORIES: &[AccessoryLine] = &[
    ("Multipurpose Solution {} ml", &["60", "120", "360", "500"], &["Renu", "Opti-Free", "Biotrue", "Aquasoft"], (149, 749), 31),
    ("Lens Cleaning Spray {} ml", &["30", "60", "100"], &["Crizal", "Zeiss", "Lenskart"], (149, 399), 33),
    ("Microfibre Cleaning Cloth Pack of {}", &["2", "5", "10"], &["Lenskart", "Titan", "Zeiss"], (99, 299), 33),
    ("Hard Shell Spectacle Case {}", &["Black", "Brown", "Blue", "Red", "Tan"], &["Titan", "Lenskart", "Ray-Ban", "Vincent Chase"], (199, 999), 32),
    ("Soft Pouch {}", &["Black", "Grey", "Navy"], &["Lenskart", "Fastrack"], (99, 299), 32),
    ("Eyewear Chain {}", &["Gold", "Silver", "Black", "Pearl"], &["John Jacobs", "Lenskart"], (299, 899), 34),
    ("Sports Strap {}", &["Black", "Red", "Neon"], &["Oakley", "Fastrack"], (199, 599), 34),
    ("Anti-Fog Spray {} ml", &["15", "30"], &["Zeiss", "Lenskart"], (249, 449), 35),
    ("Lubricating Eye Drops {} ml", &["10", "15"], &["Refresh Tears", "Systane", "Optive"], (149, 449), 36),
    ("Contact Lens Travel Kit {}", &["Mini", "Deluxe"], &["Bausch + Lomb", "Alcon", "Aqualens"], (149, 349), 37),
    ("Contact Lens Case {}", &["Blue", "Pink", "Green", "Clear"], &["Aqualens", "Bausch + Lomb"], (49, 149), 37),
    ("Spectacle Repair Kit {}", &["Basic", "Pro"], &["Titan", "Lenskart"], (99, 249), 38),
];

fn accessory(rng: &mut GenRng) -> Draft {
    let (pattern, variants, brands, (low, high), preferred) = *pick(rng, ACCESSORIES);
    let variant = *pick(rng, variants);
    let brand = *pick(rng, brands);
    let name = format!("{brand} {}", pattern.replace("{}", variant));
    let mut attributes = Vec::with_capacity(64);
    Obj::open(&mut attributes).str("variant", variant).close();
    let code = match brand {
        "Bausch + Lomb" => "BL",
        other => &other[..2],
    };
    Draft {
        description: format!("{name}. Genuine {brand} product."),
        name,
        brand,
        sku_code: code,
        price_rupees: tag_price(rng, low, high),
        attributes,
        preferred,
    }
}

pub(crate) fn plan_products(
    seed: u64,
    n: usize,
    categories: usize,
    launched_before: i64,
) -> Vec<Product> {
    let mut rng = stream(seed, Stream::Products);
    let kinds = Weighted::new(KIND_SHARE);
    let frame_brands = brand_weights(Kind::Frame);
    let sun_brands = brand_weights(Kind::Sunglasses);
    (0..n)
        .map(|i| {
            let kind = KINDS[kinds.sample(&mut rng)];
            let draft = match kind {
                Kind::Frame => frame(&mut rng, &frame_brands, kind),
                Kind::Sunglasses => frame(&mut rng, &sun_brands, kind),
                Kind::Lens => spectacle_lens(&mut rng),
                Kind::Contact => contact_lens(&mut rng),
                Kind::Accessory => accessory(&mut rng),
            };
            let kind_code = ["FR", "SG", "SL", "CL", "AC"][kind as usize];
            let code = draft.sku_code.to_ascii_uppercase();
            let price = draft.price_rupees * 100;
            let cost = price * rng.gen_range(40..=65) / 100;
            let status = match rng.gen::<f64>() {
                r if r < 0.05 => "discontinued",
                r if r < 0.08 => "inactive",
                _ => "active",
            };
            let created = launched_before - rng.gen_range(0..3 * 365) * DAY - rng.gen_range(0..DAY);
            Product {
                id: uuid_v7(&mut rng, created),
                sku: format!("{code}-{kind_code}-{:06}", i + 1),
                category: resolve(&mut rng, categories, kind, draft.preferred),
                name: draft.name,
                description: draft.description,
                brand: draft.brand,
                price,
                cost,
                status,
                attributes: draft.attributes,
                kind,
                created,
                quantity: 0,
                sales: 0,
            }
        })
        .collect()
}

/// Which products of a kind sell: a random popularity ranking with Zipf-like weights.
pub(crate) struct Popularity {
    ranked: Vec<Vec<u32>>,
    weights: Vec<Weighted>,
}

impl Popularity {
    pub(crate) fn new(rng: &mut GenRng, products: &[Product]) -> Self {
        let mut ranked: Vec<Vec<u32>> = vec![Vec::new(); KINDS.len() + 1];
        for (i, p) in products.iter().enumerate() {
            ranked[p.kind as usize].push(i as u32);
            ranked[KINDS.len()].push(i as u32);
        }
        for list in &mut ranked {
            let order = shuffled(rng, list.len());
            *list = order.iter().map(|&k| list[k as usize]).collect();
        }
        let weights = ranked
            .iter()
            .map(|l| Weighted::zipf(l.len(), 1.0))
            .collect();
        Self { ranked, weights }
    }

    /// A product of `kind` (any product when the catalogue has none of that kind).
    pub(crate) fn sample(&self, rng: &mut GenRng, kind: Kind) -> usize {
        let k = if self.ranked[kind as usize].is_empty() {
            KINDS.len()
        } else {
            kind as usize
        };
        self.ranked[k][self.weights[k].sample(rng)] as usize
    }
}

pub(crate) fn emit_products(sink: &mut Sink, products: &[Product], category_ids: &[Uuid]) -> Sent {
    sink.copy(
        "products",
        "products",
        "id, sku, name, description, category_id, brand, price, cost, status, attributes, \
         quantity, sales_count, created_at, updated_at",
        true,
    )?;
    for p in products {
        sink.row(|r| {
            r.uuid(&p.id)
                .text(&p.sku)
                .text(&p.name)
                .text(&p.description)
                .uuid(&category_ids[p.category])
                .text(p.brand)
                .int(p.price)
                .int(p.cost)
                .text(p.status)
                .raw(&p.attributes)
                .int(p.quantity)
                .int(p.sales)
                .timestamp(p.created)
                .timestamp(p.created);
        })?;
    }
    sink.end_copy()
}

/// Whether a product is stocked much at all (discontinued lines run down).
pub(crate) fn stock_factor(rng: &mut GenRng, product: &Product) -> f64 {
    match product.status {
        "discontinued" if chance(rng, 0.7) => 0.0,
        "discontinued" | "inactive" => 0.3,
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_are_valid_and_reproducible() {
        let a = plan_products(42, 2_000, 40, 0);
        let b = plan_products(42, 2_000, 40, 0);
        assert!(a
            .iter()
            .zip(&b)
            .all(|(x, y)| x.id == y.id && x.name == y.name && x.price == y.price));
        assert_ne!(plan_products(43, 1, 40, 0)[0].id, a[0].id);
        let skus: std::collections::HashSet<_> = a.iter().map(|p| &p.sku).collect();
        assert_eq!(skus.len(), a.len());
        for p in &a {
            assert!(domain::catalog::Sku::parse(&p.sku).is_ok(), "{}", p.sku);
            assert!(
                p.price > 0 && p.cost > 0 && p.cost < p.price,
                "{} {}",
                p.name,
                p.price
            );
            assert!(p.category < 40);
            let attributes: serde_json::Value =
                serde_json::from_slice(&p.attributes).expect("json");
            assert!(attributes.is_object());
            let rupees = p.price / 100;
            let band = match p.kind {
                Kind::Frame | Kind::Sunglasses => 900..=40_000,
                Kind::Lens => 500..=110_000,
                Kind::Contact => 400..=13_000,
                Kind::Accessory => 40..=1_000,
            };
            assert!(band.contains(&rupees), "{} costs ₹{rupees}", p.name);
        }
        let frames = a.iter().filter(|p| p.kind == Kind::Frame).count();
        assert!((800..1000).contains(&frames), "{frames} frames of 2000");
    }
}
