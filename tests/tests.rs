//! The integration test suite: one binary (as ripgrep does), one module per area, a small
//! harness in `util`, snapshots in `tests/snapshots`.

#[macro_use]
mod util;

mod aws;
mod docs;
mod examples;
mod fmt;
mod help;
mod plan_apply;
mod schema;
mod validate;
