//! The one integration test binary: each module covers one area through the library or the real binary.

mod armclient;
mod armexpr;
mod blueprint;
mod check;
mod cli;
mod cloud;
mod conformance;
mod cost;
mod dataset;
mod deploy;
mod evidence;
mod fleet;
mod harness;
mod load;
mod render;
mod run;
