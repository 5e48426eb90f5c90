//! The Azure Resource Manager client: pure request builders, our own long-running-operation poller, retry,
//! authentication and typed errors. No SDK type leaks out of this module.
