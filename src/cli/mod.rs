//! The command line (clap derive). Parsed once into typed configs; clap types go no deeper than this module.
