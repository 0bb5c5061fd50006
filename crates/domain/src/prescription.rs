//! Eye prescriptions and the optical rules that make one valid.

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::{dates, FieldError};

named_enum!(
    /// `expired` once past `expiresAt`; `superseded` when a newer test replaced it.
    PrescriptionStatus { Active = "active", Expired = "expired", Superseded = "superseded" }
);
named_enum!(
    /// The direction of a prism's base.
    PrismBase { In = "in", Out = "out", Up = "up", Down = "down" }
);

/// One eye as a client sends it. Every field is optional here so that a missing one is a
/// named 422, not a parse failure.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EyeInput {
    /// Dioptres, −30.00 to +30.00 in 0.25 steps. Required.
    pub sphere: Option<f64>,
    /// Dioptres, −10.00 to +10.00 in 0.25 steps; 0 when absent.
    pub cylinder: Option<f64>,
    /// Degrees 1 to 180; required when cylinder is not 0, absent otherwise.
    pub axis: Option<i32>,
    /// Reading addition, 0 to +4.00 in 0.25 steps.
    pub add: Option<f64>,
    pub prism: Option<Prism>,
    /// Pupillary distance of this eye in mm, 20 to 40.
    pub pd: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prism {
    /// Prism dioptres, above 0 up to 20, in 0.25 steps.
    pub amount: f64,
    pub base: PrismBase,
}

/// A validated eye, stored and returned as JSON in this shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Eye {
    pub sphere: f64,
    pub cylinder: f64,
    pub axis: Option<i32>,
    pub add: Option<f64>,
    pub prism: Option<Prism>,
    pub pd: Option<f64>,
}

/// In `min..=max` and a whole number of quarter dioptres. Quarter steps are exact binary
/// fractions, so the float comparison is exact.
fn quarter_steps(value: f64, min: f64, max: f64) -> Result<f64, String> {
    if !value.is_finite() || value < min || value > max || (value * 4.0).fract() != 0.0 {
        return Err(format!(
            "must be from {min:+.2} to {max:+.2} in steps of 0.25"
        ));
    }
    Ok(value)
}

impl Eye {
    /// Validates one eye; errors are named `{side}.{field}` (e.g. `rightEye.axis`).
    pub fn parse(input: &EyeInput, side: &str) -> Result<Eye, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: String| {
            errors.push(FieldError::new(format!("{side}.{field}"), message));
        };
        let sphere = match input.sphere {
            None => {
                fail("sphere", "is required".into());
                0.0
            }
            Some(v) => quarter_steps(v, -30.0, 30.0).unwrap_or_else(|m| {
                fail("sphere", m);
                0.0
            }),
        };
        let cylinder = quarter_steps(input.cylinder.unwrap_or(0.0), -10.0, 10.0);
        if let Err(m) = &cylinder {
            fail("cylinder", m.clone());
        }
        // The axis rule depends on a valid cylinder; an invalid one is reported alone.
        let has_cylinder = cylinder.as_ref().ok().map(|c| *c != 0.0);
        let cylinder = cylinder.unwrap_or(0.0);
        match (has_cylinder.unwrap_or(true), input.axis) {
            _ if has_cylinder.is_none() => {}
            (true, None) => fail("axis", "is required when cylinder is not 0".into()),
            (false, Some(_)) => fail("axis", "must be absent when cylinder is 0".into()),
            (_, Some(axis)) if !(1..=180).contains(&axis) => fail(
                "axis",
                "must be a whole number of degrees from 1 to 180".into(),
            ),
            _ => {}
        }
        if let Some(add) = input.add {
            if let Err(m) = quarter_steps(add, 0.0, 4.0) {
                fail("add", m);
            }
        }
        if let Some(prism) = input.prism {
            if prism.amount <= 0.0 || quarter_steps(prism.amount, 0.0, 20.0).is_err() {
                fail(
                    "prism.amount",
                    "must be above 0 and at most 20 in steps of 0.25".into(),
                );
            }
        }
        if let Some(pd) = input.pd {
            if !pd.is_finite() || !(20.0..=40.0).contains(&pd) {
                fail("pd", "must be from 20 to 40 mm".into());
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Eye {
            sphere,
            cylinder,
            axis: input.axis,
            add: input.add,
            prism: input.prism,
            pd: input.pd,
        })
    }
}

/// Checks the dates of a test: from 1900-01-01 and not in the future, expiry after the test
/// (two years by default) and not after 2200-12-31 ([`dates`]).
pub fn validity(
    test_date: NaiveDate,
    expires_at: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<NaiveDate, Vec<FieldError>> {
    let mut errors = Vec::new();
    if test_date > today {
        errors.push(FieldError::new("testDate", "must not be in the future"));
    } else if test_date < dates::EARLIEST {
        errors.push(FieldError::new("testDate", "must not be before 1900-01-01"));
    }
    let expires = expires_at.unwrap_or_else(|| {
        test_date
            .checked_add_months(Months::new(24))
            .unwrap_or(NaiveDate::MAX)
    });
    if expires <= test_date {
        errors.push(FieldError::new("expiresAt", "must be after testDate"));
    } else if let Err(message) = dates::date(expires) {
        errors.push(FieldError::new("expiresAt", message));
    }
    if errors.is_empty() {
        Ok(expires)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eye(sphere: f64, cylinder: Option<f64>, axis: Option<i32>) -> EyeInput {
        EyeInput {
            sphere: Some(sphere),
            cylinder,
            axis,
            ..Default::default()
        }
    }

    fn fields(result: Result<Eye, Vec<FieldError>>) -> Vec<String> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn valid_eyes() {
        assert!(Eye::parse(&eye(-2.25, Some(-0.5), Some(90)), "rightEye").is_ok());
        assert!(Eye::parse(&eye(30.0, None, None), "rightEye").is_ok());
        let full = EyeInput {
            add: Some(2.5),
            pd: Some(31.5),
            prism: Some(Prism {
                amount: 1.0,
                base: PrismBase::In,
            }),
            ..eye(1.0, Some(0.0), None)
        };
        assert!(Eye::parse(&full, "leftEye").is_ok());
    }

    #[test]
    fn each_rule_names_its_field() {
        assert_eq!(
            fields(Eye::parse(&eye(-2.1, None, None), "rightEye")),
            ["rightEye.sphere"]
        );
        assert_eq!(
            fields(Eye::parse(&eye(31.0, None, None), "rightEye")),
            ["rightEye.sphere"]
        );
        assert_eq!(
            fields(Eye::parse(&eye(0.0, Some(-10.25), Some(5)), "leftEye")),
            ["leftEye.cylinder"]
        );
        assert_eq!(
            fields(Eye::parse(&eye(0.0, Some(-1.0), None), "leftEye")),
            ["leftEye.axis"]
        );
        assert_eq!(
            fields(Eye::parse(&eye(0.0, None, Some(90)), "leftEye")),
            ["leftEye.axis"]
        );
        assert_eq!(
            fields(Eye::parse(&eye(0.0, Some(1.0), Some(181)), "leftEye")),
            ["leftEye.axis"]
        );
        assert_eq!(
            fields(Eye::parse(&eye(0.0, Some(1.0), Some(0)), "leftEye")),
            ["leftEye.axis"]
        );
        let bad = EyeInput {
            add: Some(4.25),
            pd: Some(19.5),
            prism: Some(Prism {
                amount: 0.0,
                base: PrismBase::Up,
            }),
            sphere: None,
            ..Default::default()
        };
        assert_eq!(
            fields(Eye::parse(&bad, "rightEye")),
            [
                "rightEye.sphere",
                "rightEye.add",
                "rightEye.prism.amount",
                "rightEye.pd"
            ]
        );
    }

    #[test]
    fn dates() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        let today = d("2026-11-24");
        assert_eq!(validity(d("2026-01-10"), None, today), Ok(d("2028-01-10")));
        assert!(validity(d("2026-12-01"), None, today).is_err());
        let errs = validity(d("2026-01-10"), Some(d("2026-01-10")), today).unwrap_err();
        assert_eq!(errs[0].field, "expiresAt");
        let errs = validity(d("0000-01-01"), None, today).unwrap_err();
        assert_eq!(errs[0].field, "testDate");
        let errs = validity(d("2026-01-10"), Some(NaiveDate::MAX), today).unwrap_err();
        assert_eq!(errs[0].field, "expiresAt");
    }
}
