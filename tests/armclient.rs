//! Integration tests: armclient.
