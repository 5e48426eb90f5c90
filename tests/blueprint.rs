//! Integration tests: blueprint.
