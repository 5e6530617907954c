//! The `orders` command's library: the local pipeline and the operator tools, usable from
//! tests as well as from the binary.
//!
//! - [`pipeline`]: `orders local`, everything wired together.
//! - [`api`]: HTTP to API Gateway proxy events and back.
//! - [`limits`]: API Gateway's stage throttle and the account's concurrency, emulated.
//! - [`queue`]: the embedded SQS-like queue, and SQS itself, behind one interface.
//! - [`poller`]: Lambda's SQS event source mapping.
//! - [`table`]: Dynoxide served in-process.
//! - [`openapi`]: `openapi.yaml`, the request schema the local API validates against.
//! - [`settings`]: defaults from `template.yaml`.
//! - [`state`]: the state directory: one owner (an OS lock), files this version can read.
//! - [`stack`]: a deployed stack's outputs (`--stack`).
//! - [`load`]: `orders load`, the load generator with latency measurement and reconciliation.
//! - [`plan`]: `orders plan`, capacity arithmetic against AWS's limits (and orders local's).
//! - [`web`]: the dashboard page (`/_local/`) and the load report, with their embedded assets.

pub mod api;
pub mod cli;
pub mod limits;
pub mod load;
pub mod openapi;
pub mod pipeline;
pub mod plan;
pub mod poller;
pub mod queue;
pub mod reconcile;
pub mod settings;
pub mod stack;
pub mod state;
pub mod table;
pub mod web;
