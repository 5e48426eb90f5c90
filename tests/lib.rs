//! The one integration test binary: each module covers one area through the library or the real binary.

mod armclient;
mod armexpr;
mod blueprint;
mod blueprint_import;
mod check;
mod cli;
mod cloud;
mod conformance;
mod cost;
mod dataset;
mod deploy;
mod evidence;
mod first_run;
mod fleet;
mod harness;
mod layers;
mod load;
mod policy;
mod record;
mod render;
mod run;
mod stacks;
