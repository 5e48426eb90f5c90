//! The Azure Resource Manager client: pure request builders, our own long-running-operation poller, retry,
//! authentication and typed errors. No SDK type leaks out of this module.
//!
//! Contract: [`ArmClient`] takes an endpoint (Azure's or the local cloud's), a [`Credential`] and
//! [`ArmClientOptions`], and offers the operations plan, apply and destroy need: subscriptions, resource
//! groups, deployments at subscription and resource-group scope (create, get, operations, validate,
//! what-if, cancel, delete) and generic resources by id. Each call returns our own models ([`models`]) or
//! an [`Error`] that carries ARM's code, message, target and nested details; and Azure Policy's compliance
//! states after deployment ([`policyinsights`]: query, summarize, trigger an evaluation).
//!
//! The SDK (`azure_mgmt_resources` 0.21) builds and sends the resource-group and deployment requests, except a
//! deployment's PUT, which [`request`] builds so that only one copy of its template is in flight (the SDK's
//! builders hold three, and a fleet's trusts PUT theirs at once); its long-running futures are never awaited
//! (they re-send PUTs), its retry is off, and its strict models are not used for responses. Everything else is
//! in [`request`] (pure), [`retry`], [`poll`] and [`auth`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), trustprint::arm::Error> {
//! use trustprint::arm::{ArmClient, ArmClientOptions, Credential, DeploymentMode, DeploymentRequest,
//!                       DeploymentScope, ProvisioningState};
//! let client = ArmClient::new("https://management.azure.com", Credential::from_env()?,
//!                             ArmClientOptions::default())?;
//! let sub = "00000000-0000-0000-0000-000000000000";
//! client.create_or_update_resource_group(sub, "rg-rm3-uks-epr", "uksouth", &Default::default()).await?;
//! let scope = DeploymentScope::ResourceGroup { subscription_id: sub.into(), resource_group: "rg-rm3-uks-epr".into() };
//! let request = DeploymentRequest {
//!     location: None,
//!     tags: Default::default(),
//!     mode: DeploymentMode::Incremental,
//!     template: serde_json::json!({"$schema": "...", "contentVersion": "1.0.0.0", "resources": []}),
//!     parameters: Default::default(),
//! };
//! let plan = client.what_if(&scope, "epr", &request).await?;
//! println!("{} change(s)", plan.changes.len());
//! let done = client.create_deployment(&scope, "epr", &request).await?;
//! if done.provisioning_state != ProvisioningState::Succeeded {
//!     for op in client.deployment_failures(&scope, "epr").await? {
//!         println!("{:?}: {:?}", op.target_resource, op.error);
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod auth;
mod client;
pub mod error;
pub mod models;
pub mod policyinsights;
pub mod poll;
pub mod request;
pub mod retry;

pub use auth::{Credential, Secret, TokenPool};
pub use client::{ArmClient, ArmClientOptions, CaCertificates, DeploymentStarted, ARM_SCOPE};
pub use error::{AdditionalInfo, CredentialKind, Error, ErrorDetail, Result};
pub use models::{
    ActionOnUnmanage, ActivityEvent, ChangeType, DenySettings, Deployment, DeploymentMode,
    DeploymentOperation, DeploymentOutput, DeploymentRequest, DeploymentScope, DeploymentStack,
    PropertyChange, PropertyChangeType, ProvisioningState, ResourceGroup, StackRequest,
    StackResource, StackWhatIf, Subscription, TargetResource, Validation, WhatIfChange,
    WhatIfResult,
};
pub use poll::PollOptions;
pub use retry::RetryOptions;
