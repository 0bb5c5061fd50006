//! Eye values as an optometrist writes them: each patient has their own refraction (mostly
//! mild myopia, some hyperopia, astigmatism with the rule or against it), young myopes drift
//! more minus with time, readers need an addition from their forties. Values are kept in
//! quarter dioptres and written as the JSON the API stores.

use rand::Rng;

use super::json::Obj;
use super::rng::{chance, keyed, normal, pick, GenRng, Stream};

/// One eye in hundredths of a dioptre (and of a millimetre for `pd`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Eye {
    pub sphere: i64,
    pub cylinder: i64,
    pub axis: Option<i64>,
    pub add: Option<i64>,
    pub prism: Option<(i64, &'static str)>,
    pub pd: i64,
}

/// Rounds dioptres to the nearest quarter, in hundredths.
fn quarters(dioptres: f64, min: f64, max: f64) -> i64 {
    ((dioptres.clamp(min, max) * 4.0).round() as i64) * 25
}

fn wrap_axis(degrees: f64) -> i64 {
    let a = (degrees.round() as i64).rem_euclid(180);
    if a == 0 {
        180
    } else {
        a
    }
}

/// Day 20,000 (2024-10-04): the patient's base refraction is theirs on this day.
const REFERENCE_DAY: i64 = 20_000;

/// Both eyes of `patient` at a test on `test_day` when they were `age`.
pub(crate) fn eyes(
    rng: &mut GenRng,
    seed: u64,
    patient: u32,
    age: u8,
    test_day: i64,
) -> (Eye, Eye) {
    let mut own = keyed(seed, Stream::Eyes, u64::from(patient));
    let roll: f64 = own.gen();
    let (base, myope) = if roll < 0.01 {
        (normal(&mut own, -14.0, 3.0).clamp(-25.0, -10.0), true)
    } else if roll < 0.66 {
        (normal(&mut own, -2.0, 1.8).clamp(-12.0, -0.25), true)
    } else if roll < 0.90 {
        (normal(&mut own, 1.25, 1.0).clamp(0.25, 7.0), false)
    } else {
        (0.0, false)
    };
    let drift = if myope && age < 30 {
        -0.25 * (test_day - REFERENCE_DAY) as f64 / 365.0
    } else {
        0.0
    };
    let anisometropia = normal(&mut own, 0.0, 0.35);
    let cylinder = if chance(&mut own, 0.45) {
        0.0
    } else if chance(&mut own, 0.03) {
        -(normal(&mut own, 4.0, 1.0).abs().clamp(2.5, 6.0))
    } else {
        -(normal(&mut own, 0.0, 0.9).abs() + 0.25).min(3.0)
    };
    let axis = match own.gen_range(0..100) {
        0..=54 => 180.0 + normal(&mut own, 0.0, 12.0),
        55..=84 => 90.0 + normal(&mut own, 0.0, 12.0),
        _ => own.gen_range(1.0..180.0),
    };
    let pd = normal(&mut own, 31.5, 1.5).clamp(26.0, 37.0);
    let prism = chance(&mut own, 0.02).then(|| {
        (
            *pick(&mut own, &[50, 100, 150, 200]),
            *pick(&mut own, &["in", "out", "up", "down"]),
        )
    });
    let add = (age >= 40).then(|| quarters(0.75 + f64::from(age - 40) * 0.075, 0.75, 3.0));
    let eye = |sphere: f64, cylinder: f64, axis: f64, pd: f64, rng: &mut GenRng| {
        let noise = if chance(rng, 0.3) {
            *pick(rng, &[-0.25, 0.25])
        } else {
            0.0
        };
        let cylinder = quarters(cylinder, -10.0, 0.0);
        Eye {
            sphere: quarters(sphere + drift + noise, -30.0, 30.0),
            cylinder,
            axis: (cylinder != 0).then(|| wrap_axis(axis + normal(rng, 0.0, 3.0))),
            add,
            prism,
            pd: ((pd * 2.0).round() as i64) * 50,
        }
    };
    let right = eye(base, cylinder, axis, pd, rng);
    let left_cylinder = cylinder
        + if cylinder != 0.0 {
            normal(rng, 0.0, 0.2)
        } else {
            0.0
        };
    let left_pd = pd + *pick(rng, &[-0.5, 0.0, 0.0, 0.5]);
    let left = eye(
        base + anisometropia,
        left_cylinder.min(0.0),
        180.0 - axis,
        left_pd,
        rng,
    );
    (right, left)
}

pub(crate) fn push_eye(buf: &mut Vec<u8>, eye: &Eye) {
    buf.clear();
    let mut obj = Obj::open(buf);
    obj.hundredths("sphere", eye.sphere)
        .hundredths("cylinder", eye.cylinder);
    match eye.axis {
        Some(axis) => obj.int("axis", axis),
        None => obj.null("axis"),
    };
    match eye.add {
        Some(add) => obj.hundredths("add", add),
        None => obj.null("add"),
    };
    match eye.prism {
        Some((amount, base)) => obj.with("prism", |b| {
            Obj::open(b)
                .hundredths("amount", amount)
                .str("base", base)
                .close();
        }),
        None => obj.null("prism"),
    };
    obj.hundredths("pd", eye.pd).close();
}

/// Draws both eyes and writes them as JSON into `right` and `left`.
pub(crate) fn write_eyes(
    rng: &mut GenRng,
    seed: u64,
    patient: u32,
    age: u8,
    test_day: i64,
    (right, left): (&mut Vec<u8>, &mut Vec<u8>),
) {
    let (r, l) = eyes(rng, seed, patient, age, test_day);
    push_eye(right, &r);
    push_eye(left, &l);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::rng::stream;

    fn valid(eye: &Eye) {
        let quarter = |v: i64| v % 25 == 0;
        assert!(
            (-3000..=3000).contains(&eye.sphere) && quarter(eye.sphere),
            "{eye:?}"
        );
        assert!(
            (-1000..=1000).contains(&eye.cylinder) && quarter(eye.cylinder),
            "{eye:?}"
        );
        match eye.axis {
            Some(axis) => assert!(eye.cylinder != 0 && (1..=180).contains(&axis), "{eye:?}"),
            None => assert_eq!(eye.cylinder, 0),
        }
        if let Some(add) = eye.add {
            assert!((0..=400).contains(&add) && quarter(add));
        }
        if let Some((amount, _)) = eye.prism {
            assert!(amount > 0 && amount <= 2000 && quarter(amount));
        }
        assert!((2000..=4000).contains(&eye.pd));
    }

    #[test]
    fn eyes_are_valid_and_mostly_mild() {
        let mut rng = stream(42, Stream::Eyes);
        let (mut mild, mut total, mut with_cylinder) = (0, 0, 0);
        for patient in 0..5_000u32 {
            let age = (patient % 80 + 5) as u8;
            let (r, l) = eyes(
                &mut rng,
                42,
                patient,
                age,
                20_100 + i64::from(patient % 700),
            );
            for eye in [&r, &l] {
                valid(eye);
                total += 1;
                mild += i32::from((-600..=400).contains(&eye.sphere) && eye.cylinder >= -200);
                with_cylinder += i32::from(eye.cylinder != 0);
                assert_eq!(eye.add.is_some(), age >= 40);
            }
        }
        assert!(mild * 100 > total * 85, "{mild} of {total} mild");
        assert!((total * 35 / 100..total * 75 / 100).contains(&with_cylinder));
    }

    #[test]
    fn same_patient_same_eyes_and_json_matches_the_api_shape() {
        let mut a = stream(1, Stream::Eyes);
        let mut b = stream(1, Stream::Eyes);
        assert_eq!(
            eyes(&mut a, 1, 7, 45, 20_300),
            eyes(&mut b, 1, 7, 45, 20_300)
        );
        let (mut right, mut left) = (Vec::new(), Vec::new());
        for patient in 0..300 {
            write_eyes(&mut a, 1, patient, 50, 20_300, (&mut right, &mut left));
            for json in [&right, &left] {
                let value: serde_json::Value = serde_json::from_slice(json).expect("JSON");
                let keys: Vec<&str> = value
                    .as_object()
                    .expect("object")
                    .keys()
                    .map(|k| k.as_str())
                    .collect();
                assert_eq!(keys.len(), 6, "{value}");
                for key in ["sphere", "cylinder", "axis", "add", "prism", "pd"] {
                    assert!(value.get(key).is_some(), "{key} in {value}");
                }
                assert!(value["sphere"].is_f64() && value["pd"].is_f64());
            }
        }
    }
}
