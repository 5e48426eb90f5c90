//! Integration tests: armexpr.
