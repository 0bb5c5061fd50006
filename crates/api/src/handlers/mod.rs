//! One module per resource of the contract; each exposes `routes()` for the router.

pub mod auth;
pub mod catalog;
pub mod categories;
pub mod customers;
pub mod dashboard;
pub mod health;
pub mod inventory;
pub mod orders;
pub mod prescriptions;
pub mod products;
pub mod stores;
pub mod users;
pub mod workshop;
