//! `sqlx::migrate!` embeds `migrations/` at compile time, but on stable Rust it cannot tell
//! Cargo to watch the folder: without this, a new migration file is silently left out of
//! the binary (and of the tests' template database) until something else rebuilds the crate.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
