//! The integration test suite: one binary (as ripgrep does), one module per area, a small
//! harness in `util`, snapshots in `tests/snapshots`.

#[macro_use]
mod util;

mod audit;
mod docs;
mod emergency;
mod examples;
mod fmt;
mod help;
mod plan_apply;
mod postgres;
mod schema;
mod validate;
