//! trustprint: stamp an exemplar NHS trust's Azure blueprint for follower trusts.
//!
//! The flow, one module per stage:
//! [`load`] (manifest + values, validated) → [`render`] (Tera → ARM JSON) → [`check`] (guardrails)
//! → `plan` (what-if) → `apply` (ARM deployments) → [`record`] (git commit in the fleet repo).
//! [`run`] orchestrates the stages; `main.rs` only parses the command line and calls it.

pub mod arm;
pub mod armexpr;
pub mod atomic;
pub mod blueprint;
pub mod check;
pub mod cli;
pub mod cloud;
pub mod cost;
pub mod dataset;
pub mod deploy;
pub mod diag;
pub mod error;
pub mod evidence;
pub mod fleet;
pub mod hash;
pub mod lint;
pub mod load;
pub mod model;
pub mod ods;
pub mod par;
pub mod policy;
pub mod protocol;
pub mod record;
pub mod render;
pub mod repo;
pub mod run;
pub mod types;
pub mod values;
pub mod yaml;

pub use error::{Error, ExitCode};

// About a third of load + render + check is spent allocating (serde_json values, Tera output, armexpr
// evaluation); mimalloc does that markedly faster than the system allocator on glibc. Declared in the
// library so the binary, the benchmarks and the tests all measure the same thing.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
