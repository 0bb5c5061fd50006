//! Business vocabulary and rules of IMS 2.0, free of I/O.
//!
//! Everything a request carries is parsed into these types before it reaches storage, so
//! nothing invalid is ever written. No axum or redis here, and sqlx only behind the `sqlx`
//! feature, which maps the identifier types to their columns for storage: the rules are
//! testable alone.
//!
//! # Layout
//! - [`validation`]: field errors collected across a whole request (`422` with every bad field).
//! - [`user`]: emails, usernames, passwords (argon2id), roles and account status.
//! - [`catalog`]: stores, categories, products: codes, skus, money and statuses.
//! - [`customer`]: customer names and phone numbers.
//! - [`order`], [`inventory`], [`prescription`], [`workshop`]: the operational state machines
//!   and validation rules.
//! - [`money`]: amounts in whole minor units (paise).
//! - [`ids`]: one identifier type per kind of row (`ProductId`, `OrderId`, ...).
//! - [`dates`]: the range of dates and times accepted anywhere (1900-01-01..=2200-12-31).
//! - [`text`]: bounded free-text fields shared by the others.

#[macro_use]
mod named_enum;

pub mod catalog;
pub mod customer;
pub mod dates;
pub mod ids;
pub mod inventory;
pub mod money;
pub mod order;
pub mod prescription;
pub mod text;
pub mod user;
pub mod validation;
pub mod workshop;

pub use named_enum::{Named, UnknownName};
pub use validation::{FieldError, ValidationErrors};
