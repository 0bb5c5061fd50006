//! The OpenAPI schemas of the domain's types. `domain` knows nothing of HTTP, so it derives
//! no schema: a field of a domain type says which schema it has with
//! `#[schema(value_type = schema::OrderStatus)]` (or `#[param(value_type = …)]`), and the
//! document names each schema as the domain names its type.

use std::borrow::Cow;

use domain::Named;
use serde::Deserialize;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

/// A closed set of names as the contract sends it: a string, one of [`Named::ALL`].
fn named<T: Named>() -> RefOr<Schema> {
    // Each doc line keeps the space after `///`; trimmed, as utoipa trims a derive's docs.
    let description = T::DESCRIPTION
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n");
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description((!description.is_empty()).then_some(description))
        .enum_values(Some(T::ALL.iter().map(|value| value.as_str())))
        .into()
}

/// One schema type per closed set of names, named as the domain's type.
macro_rules! named_schemas {
    ($($module:ident :: $name:ident),+ $(,)?) => {$(
        #[doc = concat!("The schema of [`domain::", stringify!($module), "::", stringify!($name), "`].")]
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                named::<domain::$module::$name>()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(<domain::$module::$name as Named>::TYPE_NAME)
            }
        }
    )+};
}

named_schemas!(
    catalog::StoreStatus,
    catalog::CategoryStatus,
    catalog::ProductStatus,
    inventory::StockStatus,
    inventory::MovementKind,
    order::OrderStatus,
    order::PaymentStatus,
    order::PaymentMethod,
    prescription::PrescriptionStatus,
    prescription::PrismBase,
    user::Role,
    user::UserStatus,
    workshop::JobPriority,
    workshop::JobStatus,
);

// The shape of `domain::FieldError` (the doc comment is the schema's description).
/// One invalid field: `field` is the JSON path (`rightEye.axis`), `message` says what to fix.
#[derive(ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

// The shape of `domain::prescription::EyeInput` (the doc comment is the schema's description).
/// One eye as a client sends it. Every field is optional here so that a missing one is a
/// named 422, not a parse failure.
#[derive(Deserialize, ToSchema)]
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

// The shape of `domain::prescription::Prism` (the doc comment is the schema's description).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Prism {
    /// Prism dioptres, above 0 up to 20, in 0.25 steps.
    pub amount: f64,
    #[schema(value_type = PrismBase)]
    pub base: domain::prescription::PrismBase,
}

// The shape of `domain::prescription::Eye` (the doc comment is the schema's description).
/// A validated eye, stored and returned as JSON in this shape.
#[derive(ToSchema)]
pub struct Eye {
    pub sphere: f64,
    pub cylinder: f64,
    pub axis: Option<i32>,
    pub add: Option<f64>,
    pub prism: Option<Prism>,
    pub pd: Option<f64>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use domain::prescription::{Eye, EyeInput, Prism, PrismBase};
    use utoipa::PartialSchema;

    use super::*;

    /// The property names a schema documents.
    fn documented(schema: RefOr<Schema>) -> BTreeSet<String> {
        match schema {
            RefOr::T(Schema::Object(object)) => object.properties.into_keys().collect(),
            _ => panic!("not an object schema"),
        }
    }

    /// The member names the domain's value has on the wire.
    fn sent(value: &impl serde::Serialize) -> BTreeSet<String> {
        serde_json::to_value(value)
            .expect("serializes")
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect()
    }

    // The shapes above copy the domain's: a field added there and not here would be sent
    // without being documented.
    #[test]
    fn each_shape_documents_every_member_its_domain_type_sends() {
        let prism = Prism {
            amount: 1.0,
            base: PrismBase::In,
        };
        let eye = Eye {
            sphere: 1.0,
            cylinder: 0.0,
            axis: Some(90),
            add: Some(1.0),
            prism: Some(prism),
            pd: Some(31.0),
        };
        assert_eq!(documented(super::Eye::schema()), sent(&eye));
        assert_eq!(documented(super::Prism::schema()), sent(&prism));
        assert_eq!(
            documented(super::FieldError::schema()),
            sent(&domain::FieldError::new("a", "b"))
        );
        // EyeInput is only read: every member it accepts is one the schema documents.
        let input: EyeInput = serde_json::from_value(serde_json::json!({
            "sphere": 1.0, "cylinder": 0.0, "axis": 90, "add": 1.0,
            "prism": { "amount": 1.0, "base": "in" }, "pd": 31.0
        }))
        .expect("a whole eye");
        assert!(input.sphere.is_some());
        assert_eq!(
            documented(super::EyeInput::schema()),
            sent(&eye),
            "EyeInput accepts the members of Eye"
        );
    }

    #[test]
    fn a_named_set_is_documented_with_every_name() {
        let RefOr::T(Schema::Object(object)) = super::OrderStatus::schema() else {
            panic!("not an object schema");
        };
        let names: Vec<String> = object
            .enum_values
            .expect("enum values")
            .into_iter()
            .map(|v| v.as_str().expect("a string").to_owned())
            .collect();
        let expected: Vec<&str> = domain::order::OrderStatus::ALL
            .iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(names, expected);
        assert_eq!(super::OrderStatus::name(), "OrderStatus");
    }
}
