//! What clients see of the records that more than one part of the service shows: views here
//! depend on storage's records and the domain only, so handlers, the authenticated caller's
//! profile ([`crate::auth`]), the product lists ([`crate::listing`]) and the cache
//! ([`crate::cached`]) all import them from one place and never from each other. A view only
//! one handler shows stays in that handler's module.

pub(crate) mod dashboard;
mod product;
mod user;

pub use product::{tally_of, ProductView};
pub use user::UserView;
