//! The integration test suite: one binary (as ripgrep does), one module per area, a small
//! harness in `util`, snapshots in `tests/snapshots`.

#[macro_use]
mod util;

#[path = "contract/anthropic.rs"]
mod contract_anthropic;
#[path = "contract/litellm.rs"]
mod contract_litellm;

mod anthropic;
mod audit;
mod aws;
mod azure;
mod browser;
mod ci;
mod conflicts;
mod console;
mod console_http;
mod docs;
mod emergency;
mod errors;
mod examples;
mod fmt;
mod gcp;
mod help;
mod kubernetes;
mod litellm;
mod openai;
mod output;
mod plan_apply;
mod postgres;
mod refusals;
mod requests;
mod roles;
mod schema;
mod security;
mod storage;
mod validate;
mod vault;
