//! The category tree: five product kinds at the top and their subcategories (40 in the
//! reference chain), and which category a product of a kind with given traits belongs to
//! when a scale has fewer (or more) categories than the reference.

use rand::Rng;
use uuid::Uuid;

use super::copy::{Sent, Sink};
use super::rng::{stream, uuid_v7, GenRng, Stream};
use super::time::DAY;

/// What a product is; decides its names, prices, attributes and how it sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Frame = 0,
    Sunglasses = 1,
    Lens = 2,
    Contact = 3,
    Accessory = 4,
}

/// (name, description, parent index). The first five are the kinds, in [`Kind`] order.
#[rustfmt::skip]
pub(crate) const CATEGORIES: &[(&str, &str, Option<usize>)] = &[
    ("Frames", "Spectacle frames: full-rim, half-rim and rimless", None),
    ("Sunglasses", "Sunglasses with and without prescription", None),
    ("Spectacle Lenses", "Single vision, progressive, bifocal and speciality lenses", None),
    ("Contact Lenses", "Daily, fortnightly and monthly contact lenses", None),
    ("Accessories", "Solutions, cases, cleaning kits and more", None),
    ("Full-Rim Frames", "Frames that hold the lens all round", Some(0)),
    ("Half-Rim Frames", "Supra frames with a nylon thread below the lens", Some(0)),
    ("Rimless Frames", "Drilled lenses, no rim: the lightest frames", Some(0)),
    ("Kids Frames", "Flexible, durable frames for children", Some(0)),
    ("Titanium Frames", "Light, hypoallergenic titanium frames", Some(0)),
    ("Computer Glasses", "Frames with blue-light filtering lenses for screen work", Some(0)),
    ("Sports Frames", "Wrap-around frames for active use", Some(0)),
    ("Aviator Sunglasses", "The teardrop classic", Some(1)),
    ("Wayfarer Sunglasses", "Trapezoid acetate classics", Some(1)),
    ("Polarized Sunglasses", "Glare-cutting polarized lenses", Some(1)),
    ("Sports Sunglasses", "Wrap-around sunglasses for sport", Some(1)),
    ("Round Sunglasses", "Round and oval sunglasses", Some(1)),
    ("Clip-On Sunglasses", "Magnetic sun clips for spectacles", Some(1)),
    ("Single Vision Lenses", "One power across the lens", Some(2)),
    ("Progressive Lenses", "Distance to near without a visible line", Some(2)),
    ("Bifocal Lenses", "Two powers with a reading segment", Some(2)),
    ("Blue Light Lenses", "Lenses that filter blue-violet light", Some(2)),
    ("Photochromic Lenses", "Lenses that darken in sunlight", Some(2)),
    ("High-Index Lenses", "Thin lenses for strong prescriptions", Some(2)),
    ("Office Lenses", "Intermediate and near vision for desk work", Some(2)),
    ("Myopia Control Lenses", "Lenses that slow myopia in children", Some(2)),
    ("Daily Contact Lenses", "Wear once and throw away", Some(3)),
    ("Fortnightly Contact Lenses", "Two-week replacement lenses", Some(3)),
    ("Monthly Contact Lenses", "Monthly replacement lenses", Some(3)),
    ("Toric Contact Lenses", "Contact lenses for astigmatism", Some(3)),
    ("Coloured Contact Lenses", "Lenses that change or enhance eye colour", Some(3)),
    ("Lens Solutions", "Multipurpose and peroxide contact lens solutions", Some(4)),
    ("Spectacle Cases", "Hard cases and soft pouches", Some(4)),
    ("Cleaning Kits", "Sprays and microfibre cloths", Some(4)),
    ("Eyewear Chains & Cords", "Chains, cords and sports straps", Some(4)),
    ("Anti-Fog Sprays", "Keep lenses clear behind a mask", Some(4)),
    ("Eye Drops", "Lubricating drops for dry eyes", Some(4)),
    ("Contact Lens Cases", "Lens cases and travel kits", Some(4)),
    ("Repair Kits", "Screwdrivers, screws and nose pads", Some(4)),
    ("Reading Glasses", "Ready-made readers", Some(0)),
];

pub(crate) struct Category {
    pub id: Uuid,
    pub name: String,
    pub description: &'static str,
    pub parent: Option<usize>,
    pub created: i64,
}

/// Subcategories repeat as numbered collections when a scale asks for more than the list.
fn base_of(index: usize) -> (usize, usize) {
    let reference = CATEGORIES.len();
    if index < reference {
        return (index, 0);
    }
    let subs = reference - 5;
    (
        5 + (index - reference) % subs,
        1 + (index - reference) / subs,
    )
}

pub(crate) fn plan_categories(seed: u64, n: usize, created_before: i64) -> Vec<Category> {
    let mut rng = stream(seed, Stream::Catalog);
    let mut categories: Vec<Category> = Vec::with_capacity(n);
    for index in 0..n {
        let (base, round) = base_of(index);
        let (name, description, parent) = CATEGORIES[base];
        let created = created_before - rng.gen_range(365..5 * 365) * DAY;
        categories.push(Category {
            id: uuid_v7(&mut rng, created),
            name: if round == 0 {
                name.to_owned()
            } else {
                format!("{name} {}", round + 1)
            },
            description,
            parent: parent.filter(|p| *p < n),
            created,
        });
    }
    categories
}

/// The category a product goes to: `preferred` (an index into [`CATEGORIES`]) or one of its
/// numbered copies when it exists, else its kind's top category, else any.
pub(crate) fn resolve(rng: &mut GenRng, n: usize, kind: Kind, preferred: usize) -> usize {
    let reference = CATEGORIES.len();
    if preferred < n {
        let subs = reference - 5;
        let copies = if n > reference && preferred >= 5 {
            (n - reference + subs - 1 - (preferred - 5)) / subs
        } else {
            0
        };
        let round = rng.gen_range(0..=copies);
        return if round == 0 {
            preferred
        } else {
            reference + (round - 1) * subs + (preferred - 5)
        };
    }
    let top = kind as usize;
    if top < n {
        top
    } else {
        top % n
    }
}

pub(crate) fn emit_categories(sink: &mut Sink, categories: &[Category]) -> Sent {
    sink.copy(
        "categories",
        "categories",
        "id, name, description, parent_id, status, created_at, updated_at",
        true,
    )?;
    for c in categories {
        sink.row(|r| {
            r.uuid(&c.id)
                .text(&c.name)
                .text(c.description)
                .opt_uuid(c.parent.map(|p| &categories[p].id))
                .text("active")
                .timestamp(c.created)
                .timestamp(c.created);
        })?;
    }
    sink.end_copy()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_land_in_existing_categories_at_any_scale() {
        let mut rng = stream(1, Stream::Catalog);
        for n in [1, 3, 5, 40, 41, 80, 200] {
            for (preferred, (_, _, parent)) in CATEGORIES.iter().enumerate() {
                let kind = match parent.unwrap_or(preferred) {
                    0 => Kind::Frame,
                    1 => Kind::Sunglasses,
                    2 => Kind::Lens,
                    3 => Kind::Contact,
                    _ => Kind::Accessory,
                };
                for _ in 0..20 {
                    let index = resolve(&mut rng, n, kind, preferred);
                    assert!(index < n, "{n} {preferred} {index}");
                    if n >= 40 {
                        assert_eq!(base_of(index).0, preferred);
                    }
                }
            }
        }
        let names: std::collections::HashSet<String> = plan_categories(1, 200, 0)
            .into_iter()
            .map(|c| c.name.to_lowercase())
            .collect();
        assert_eq!(names.len(), 200, "names are unique");
    }
}
