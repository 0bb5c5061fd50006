//! One module per resource of the contract; each exposes `routes()` for the router.

pub mod auth;
pub mod categories;
pub mod customers;
pub mod health;
pub mod products;
pub mod stores;
pub mod users;
