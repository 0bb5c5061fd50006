//! What frames and sunglasses are made of: brands with their price bands, shapes, materials,
//! colours and sizes, and the name, description and attributes of one generated model.

use rand::Rng;

use super::categories::Kind;
use super::json::Obj;
use super::products::Draft;
use super::rng::{chance, pick, GenRng, Weighted};

/// (brand, sku code, lowest and highest price in rupees, model prefix, weight in the range)
type Brand = (&'static str, &'static str, i64, i64, &'static str, f64);

#[rustfmt::skip]
const FRAME_BRANDS: &[Brand] = &[
    ("Lenskart", "LK", 999, 3999, "LK", 3.0),
    ("Vincent Chase", "VC", 1199, 3499, "VC", 3.0),
    ("Titan", "TT", 1490, 5990, "TW", 2.5),
    ("Fastrack", "FT", 999, 2999, "FT", 2.0),
    ("John Jacobs", "JJ", 2999, 7999, "JJ", 1.5),
    ("Ray-Ban", "RB", 4990, 14990, "RX", 2.0),
    ("Oakley", "OK", 6990, 17990, "OX", 1.0),
    ("Vogue Eyewear", "VO", 3490, 8990, "VO", 1.0),
    ("Carrera", "CA", 5990, 14990, "CA", 0.8),
    ("Tommy Hilfiger", "TH", 3990, 9990, "TH", 0.8),
    ("Idee", "ID", 2490, 5990, "ID", 0.8),
    ("Police", "PO", 4990, 11990, "PL", 0.6),
    ("Hugo Boss", "HB", 9990, 21990, "HB", 0.4),
    ("Prada", "PR", 14990, 34990, "PR", 0.4),
];

#[rustfmt::skip]
const SUN_BRANDS: &[Brand] = &[
    ("Ray-Ban", "RB", 5990, 16990, "RB", 3.0),
    ("Fastrack", "FT", 999, 2999, "P", 2.5),
    ("Vincent Chase", "VC", 1299, 3999, "VC", 2.5),
    ("Oakley", "OK", 7490, 19990, "OO", 1.5),
    ("Titan", "TT", 1990, 6990, "GC", 1.5),
    ("Idee", "ID", 2990, 6990, "IDS", 1.0),
    ("Carrera", "CA", 6990, 15990, "CA", 0.8),
    ("Police", "PO", 5490, 12990, "SPL", 0.8),
    ("Tommy Hilfiger", "TH", 4490, 10990, "TH", 0.6),
    ("Persol", "PE", 12990, 24990, "PO", 0.4),
    ("Maui Jim", "MJ", 14990, 29990, "MJ", 0.4),
    ("Prada", "PR", 16990, 38990, "SPR", 0.4),
];

#[rustfmt::skip]
const SHAPES: &[&str] = &[
    "Rectangle", "Square", "Round", "Aviator", "Wayfarer", "Cat-Eye", "Oval", "Browline",
    "Geometric", "Hexagonal", "Clubmaster", "Butterfly",
];
#[rustfmt::skip]
const MATERIALS: &[(&str, &str)] = &[
    ("Acetate", "acetate"), ("Metal", "metal"), ("Titanium", "titanium"), ("TR90", "tr90"),
    ("Stainless Steel", "stainless steel"), ("Beta Titanium", "beta titanium"),
];
#[rustfmt::skip]
const COLORS: &[&str] = &[
    "Black", "Matte Black", "Tortoise", "Gunmetal", "Gold", "Silver", "Havana", "Transparent",
    "Blue", "Wine", "Rose Gold", "Grey", "Brown", "Green",
];
#[rustfmt::skip]
const SERIES: &[&str] = &[
    "Air", "Classic", "Slim", "Flex", "Signature", "Urban", "Edge", "Heritage", "Active", "Lite",
    "Pro", "Essentials",
];
#[rustfmt::skip]
const SUN_LENSES: &[(&str, bool)] = &[
    ("G-15 Green", false), ("Grey Gradient", false), ("Brown Polarized", true),
    ("Blue Mirror", false), ("Silver Mirror", true), ("Prizm Ruby", false),
    ("Grey Polarized", true), ("Green Classic", false), ("Rose Gradient", false),
    ("Amber Polarized", true),
];

fn brand_table(kind: Kind) -> &'static [Brand] {
    if kind == Kind::Sunglasses {
        SUN_BRANDS
    } else {
        FRAME_BRANDS
    }
}

/// Chooses brands by how much of the range they carry.
pub(crate) fn brand_weights(kind: Kind) -> Weighted {
    Weighted::new(brand_table(kind).iter().map(|b| b.5))
}

/// A price in rupees within a band, ending in 90 or 99 like a price tag.
pub(crate) fn tag_price(rng: &mut GenRng, low: i64, high: i64) -> i64 {
    let raw = rng.gen_range(low..=high.max(low));
    let ending = if chance(rng, 0.5) { 99 } else { 90 };
    raw / 100 * 100 + ending
}

pub(crate) fn frame(rng: &mut GenRng, brands: &Weighted, kind: Kind) -> Draft {
    let (brand, code, low, high, prefix, _) = brand_table(kind)[brands.sample(rng)];
    let sun = kind == Kind::Sunglasses;
    let shape = *pick(rng, SHAPES);
    let (material, material_key) = *pick(rng, MATERIALS);
    let color = *pick(rng, COLORS);
    let series = *pick(rng, SERIES);
    let model = format!("{prefix}{}", rng.gen_range(1000..9999));
    let (lens_width, bridge, temple) = (
        rng.gen_range(46..=58),
        rng.gen_range(14..=22),
        [135, 140, 145, 150][rng.gen_range(0..4)],
    );
    let size = format!("{lens_width}-{bridge}-{temple}");
    let gender = *pick(rng, &["unisex", "unisex", "men", "women"]);
    let mut attributes = Vec::with_capacity(200);
    let mut obj = Obj::open(&mut attributes);
    obj.str("frameSize", &size)
        .str("material", material_key)
        .str("shape", &shape.to_lowercase())
        .str("color", &color.to_lowercase())
        .str("gender", gender);
    let (name, description, preferred);
    if sun {
        let (lens, polarized) = *pick(rng, SUN_LENSES);
        obj.str("lensColor", lens)
            .bool("polarized", polarized)
            .str("uvProtection", "UV400");
        name = format!("{brand} {shape} {series} {model} {lens}");
        description = format!(
            "{shape} sunglasses in {} {}, {lens} lenses with UV400 protection{}. Size {size}.",
            color.to_lowercase(),
            material.to_lowercase(),
            if polarized {
                ", polarized against glare"
            } else {
                ""
            },
        );
        preferred = if chance(rng, 0.03) {
            17
        } else {
            match shape {
                "Aviator" => 12,
                "Wayfarer" => 13,
                "Round" | "Oval" => 16,
                _ if polarized => 14,
                _ if series == "Active" || series == "Pro" => 15,
                _ => 1,
            }
        };
    } else {
        let rim = *pick(
            rng,
            &["full-rim", "full-rim", "full-rim", "half-rim", "rimless"],
        );
        obj.str("rimType", rim);
        name = format!("{brand} {series} {shape} {model} {color}");
        description = format!(
            "{} {} {} frame in {}, size {size}. Comfortable for all-day wear; fits \
             single vision and progressive lenses.",
            capitalize(rim),
            material.to_lowercase(),
            shape.to_lowercase(),
            color.to_lowercase(),
        );
        let roll: f64 = rng.gen();
        preferred = match () {
            _ if roll < 0.08 => 8,
            _ if roll < 0.13 => 10,
            _ if roll < 0.17 => 11,
            _ if roll < 0.20 => 39,
            _ if material_key.contains("titanium") && roll < 0.5 => 9,
            _ => match rim {
                "half-rim" => 6,
                "rimless" => 7,
                _ => 5,
            },
        };
    }
    obj.close();
    Draft {
        name,
        description,
        brand,
        sku_code: code,
        price_rupees: tag_price(rng, low, high),
        attributes,
        preferred,
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
