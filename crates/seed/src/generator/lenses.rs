//! What spectacle lenses and contact lenses are: the makers' product lines, lens types and
//! indices, replacement schedules, pack sizes and powers, and the name, description, price
//! and attributes of one generated product.

use rand::Rng;

use super::eyewear::tag_price;
use super::json::Obj;
use super::products::Draft;
use super::rng::{chance, pick, GenRng};

/// (brand, sku code, price factor, lines: (line, lens type))
type LensMaker = (
    &'static str,
    &'static str,
    f64,
    &'static [(&'static str, &'static str)],
);

#[rustfmt::skip]
const LENS_MAKERS: &[LensMaker] = &[
    ("Essilor", "ES", 1.2, &[("Varilux X Series", "progressive"), ("Varilux Comfort", "progressive"),
        ("Crizal Sapphire", "single vision"), ("Crizal Prevencia", "single vision"),
        ("Eyezen Start", "single vision"), ("Transitions Gen S", "single vision")]),
    ("Zeiss", "ZS", 1.3, &[("SmartLife Individual", "progressive"), ("SmartLife Single Vision", "single vision"),
        ("DriveSafe", "single vision"), ("Progressive Light", "progressive"), ("BlueGuard", "single vision"),
        ("PhotoFusion X", "single vision"), ("Office Lens", "office")]),
    ("Hoya", "HY", 1.1, &[("Hilux", "single vision"), ("BlueControl", "single vision"),
        ("Sensity", "single vision"), ("MiyoSmart", "myopia control"), ("iD MyStyle", "progressive"),
        ("Flat-Top", "bifocal")]),
    ("Kodak Lens", "KD", 0.9, &[("Unique", "progressive"), ("Precise", "progressive"),
        ("Blue Protect", "single vision"), ("Bifocal D-Seg", "bifocal")]),
    ("Nikon", "NK", 1.1, &[("SeeMax", "single vision"), ("Presio Balance", "progressive")]),
    ("Rodenstock", "RD", 1.3, &[("Impression", "progressive"), ("Multigressiv", "progressive"),
        ("Cosmolit", "single vision")]),
    ("Lenskart", "LK", 0.6, &[("BLU Screen", "single vision"), ("Essential", "single vision"),
        ("Progressive Plus", "progressive")]),
];
#[rustfmt::skip]
const INDICES: &[(&str, f64)] = &[
    ("1.50", 1.0), ("1.56", 1.1), ("1.59", 1.3), ("1.60", 1.4), ("1.67", 1.7), ("1.74", 2.0),
];
#[rustfmt::skip]
const COATINGS: &[(&str, &str)] = &[
    ("Anti-Glare", "anti-reflective"), ("Blue Cut", "blue-cut"), ("Hard Coat", "hard coat"),
    ("Anti-Reflective", "anti-reflective"), ("Photochromic", "photochromic"), ("UV Protect", "uv"),
];

pub(crate) fn spectacle_lens(rng: &mut GenRng) -> Draft {
    let (brand, code, factor, lines) = *pick(rng, LENS_MAKERS);
    let (line, lens_type) = *pick(rng, lines);
    let (index, index_factor) = *pick(rng, INDICES);
    let (coating, coating_key) = *pick(rng, COATINGS);
    let (low, high) = match lens_type {
        "progressive" => (8_000, 35_000),
        "bifocal" => (2_500, 8_000),
        "office" => (6_000, 15_000),
        "myopia control" => (9_000, 16_000),
        _ => (1_500, 6_000),
    };
    let scale = factor * index_factor;
    let price = tag_price(
        rng,
        (low as f64 * scale) as i64,
        (high as f64 * scale) as i64,
    );
    let mut attributes = Vec::with_capacity(128);
    Obj::open(&mut attributes)
        .str("lensType", lens_type)
        .str("lensIndex", index)
        .str("coating", coating_key)
        .bool("blueCut", coating_key == "blue-cut")
        .str("sold", "pair")
        .close();
    let preferred = match (lens_type, coating_key) {
        ("myopia control", _) => 25,
        ("office", _) => 24,
        _ if chance(rng, 0.3) && coating_key == "blue-cut" => 21,
        _ if chance(rng, 0.3) && coating_key == "photochromic" => 22,
        _ if chance(rng, 0.3) && index_factor >= 1.8 => 23,
        ("progressive", _) => 19,
        ("bifocal", _) => 20,
        _ => 18,
    };
    // "Varilux Comfort Progressive", but not "Progressive Plus Progressive".
    let kind = if line.contains(title(lens_type)) {
        String::new()
    } else {
        format!(" {}", title(lens_type))
    };
    Draft {
        name: format!("{brand} {line}{kind} {index} {coating}"),
        description: format!(
            "{} lenses, index {index}, with {coating_key} coating. Price per pair, edged and \
             fitted to the customer's frame.",
            title(lens_type)
        ),
        brand,
        sku_code: code,
        price_rupees: price,
        attributes,
        preferred,
    }
}

fn title(lens_type: &str) -> &'static str {
    match lens_type {
        "progressive" => "Progressive",
        "bifocal" => "Bifocal",
        "office" => "Office",
        "myopia control" => "Myopia Control",
        _ => "Single Vision",
    }
}

/// (brand, sku code, line, replacement, pack sizes, price per box in rupees, style)
type ContactLine = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [i64],
    (i64, i64),
    &'static str,
);

#[rustfmt::skip]
const CONTACT_LINES: &[ContactLine] = &[
    ("Acuvue", "AC", "Oasys", "fortnightly", &[6, 12], (2400, 2900), "sphere"),
    ("Acuvue", "AC", "Oasys 1-Day", "daily", &[30, 90], (2600, 3200), "sphere"),
    ("Acuvue", "AC", "Moist 1-Day", "daily", &[30, 90], (1900, 2400), "sphere"),
    ("Acuvue", "AC", "Vita", "monthly", &[6], (2800, 3400), "sphere"),
    ("Acuvue", "AC", "Define", "daily", &[30], (2400, 2800), "colour"),
    ("Acuvue", "AC", "Oasys for Astigmatism", "fortnightly", &[6], (3400, 4000), "toric"),
    ("Bausch + Lomb", "BL", "Biotrue ONEday", "daily", &[30, 90], (1500, 4200), "sphere"),
    ("Bausch + Lomb", "BL", "SofLens 59", "monthly", &[6], (900, 1200), "sphere"),
    ("Bausch + Lomb", "BL", "PureVision2", "monthly", &[6], (1800, 2200), "sphere"),
    ("Bausch + Lomb", "BL", "Ultra", "monthly", &[6], (2400, 2800), "sphere"),
    ("Bausch + Lomb", "BL", "SofLens Toric", "monthly", &[6], (1800, 2300), "toric"),
    ("Bausch + Lomb", "BL", "Lacelle", "monthly", &[2], (600, 900), "colour"),
    ("Alcon", "AL", "Dailies Total1", "daily", &[30, 90], (3400, 4200), "sphere"),
    ("Alcon", "AL", "Dailies AquaComfort Plus", "daily", &[30, 90], (1800, 4800), "sphere"),
    ("Alcon", "AL", "Air Optix Plus HydraGlyde", "monthly", &[3, 6], (2600, 3200), "sphere"),
    ("Alcon", "AL", "Precision1", "daily", &[30], (2200, 2700), "sphere"),
    ("Alcon", "AL", "FreshLook Colorblends", "monthly", &[2], (1000, 1400), "colour"),
    ("Alcon", "AL", "Air Optix for Astigmatism", "monthly", &[6], (3600, 4200), "toric"),
    ("CooperVision", "CV", "Biofinity", "monthly", &[3, 6], (2900, 3500), "sphere"),
    ("CooperVision", "CV", "MyDay", "daily", &[30], (2700, 3300), "sphere"),
    ("CooperVision", "CV", "Clariti 1 day", "daily", &[30], (1800, 2200), "sphere"),
    ("CooperVision", "CV", "Avaira Vitality", "fortnightly", &[6], (1500, 1900), "sphere"),
    ("CooperVision", "CV", "Biofinity Toric", "monthly", &[6], (3600, 4300), "toric"),
    ("Aqualens", "AQ", "24H", "monthly", &[6], (700, 1000), "sphere"),
    ("Aqualens", "AQ", "Colors", "monthly", &[2], (500, 800), "colour"),
];
const LENS_COLOURS: &[&str] = &[
    "Hazel",
    "Grey",
    "Blue",
    "Turquoise",
    "Honey",
    "Green",
    "Brown",
];

pub(crate) fn contact_lens(rng: &mut GenRng) -> Draft {
    let (brand, code, line, replacement, packs, (low, high), style) = *pick(rng, CONTACT_LINES);
    let pack = *pick(rng, packs);
    // Minus powers dominate; colour lenses also come plano.
    let power_quarters: i64 = if style == "colour" && chance(rng, 0.4) {
        0
    } else if chance(rng, 0.8) {
        -rng.gen_range(2..=32)
    } else {
        rng.gen_range(2..=24)
    };
    let power = match power_quarters {
        0 => "0.00".to_owned(),
        q => format!("{:+.2}", q as f64 / 4.0),
    };
    let pack_factor = if pack >= 90 { 2.6 } else { 1.0 };
    let price = tag_price(
        rng,
        (low as f64 * pack_factor) as i64,
        (high as f64 * pack_factor) as i64,
    );
    let colour = (style == "colour").then(|| *pick(rng, LENS_COLOURS));
    let base_curve = *pick(rng, &["8.4", "8.5", "8.6", "8.7", "8.8"]);
    let diameter = *pick(rng, &["14.0", "14.2", "14.3", "14.5"]);
    let mut attributes = Vec::with_capacity(160);
    let mut obj = Obj::open(&mut attributes);
    obj.str("replacement", replacement)
        .int("packSize", pack)
        .str("power", &power)
        .str("baseCurve", base_curve)
        .str("diameter", diameter)
        .bool("toric", style == "toric");
    if let Some(colour) = colour {
        obj.str("colour", colour);
    }
    obj.close();
    let colour_word = colour.map(|c| format!("{c} ")).unwrap_or_default();
    let preferred = match (style, replacement) {
        ("colour", _) => 30,
        ("toric", _) => 29,
        (_, "daily") => 26,
        (_, "fortnightly") => 27,
        _ => 28,
    };
    Draft {
        name: format!("{brand} {line} {colour_word}{pack} Lenses {power}"),
        description: format!(
            "{} {replacement} contact lenses, box of {pack}, power {power}.",
            if style == "toric" {
                "Toric"
            } else if style == "colour" {
                "Coloured"
            } else {
                "Spherical"
            },
        ),
        brand,
        sku_code: code,
        price_rupees: price,
        attributes,
        preferred,
    }
}
