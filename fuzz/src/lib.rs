//! The parts of the `orders` crate that the fuzz targets exercise, compiled from that crate's
//! own source files: `domain` (the request parser and its types) and `http` (errors to API
//! responses). Same code, same dependency versions (fuzz/Cargo.lock was started from the
//! workspace's), so a target reads `use orders::domain::...` exactly as with the real crate.
//!
//! Why not `orders = { path = "../crates/orders" }`: that crate always links the AWS SDK's
//! configuration (aws-config, aws-sdk-sts/sso, hyper, rustls, aws-lc-sys). Built with the
//! fuzzer's instrumentation that took 12 minutes cold on a 2-core machine, against about one
//! for these two modules. Once those dependencies are optional in `orders`, replace this file
//! and `[lib]` in fuzz/Cargo.toml with that path dependency.
//!
//! If `domain` or `http` start using another module of `orders` (`crate::...`), the build
//! here fails: add that module below (or make the switch above).

#[path = "../../crates/orders/src/domain/mod.rs"]
pub mod domain;
#[path = "../../crates/orders/src/http.rs"]
pub mod http;
