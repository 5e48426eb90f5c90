//! What the deploy stages (and a fleet run, per trust) report while they work. The caller injects a [`Progress`] (the CLI draws spinners
//! from it; a library user logs or ignores it) and the stages call it: no stage draws on a terminal itself.
//!
//! Contract: events of one deployment arrive in order `Started`, any number of `Step`s, `Finished`; events of
//! deployments running at once interleave. The callback runs on the deploying task, so it must be quick.

use std::sync::Arc;

/// One thing a deployment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// The deployment (the blueprint's name for it) was started.
    Started { deployment: &'a str },
    /// What it is doing now: "creating resource group rg-x", "deploying", "attaching to the run in progress".
    Step {
        deployment: &'a str,
        message: &'a str,
    },
    /// It ended in `state` (ARM's provisioning state, `Skipped`, or `error`).
    Finished { deployment: &'a str, state: &'a str },
    /// A fleet run finished a trust: the `done`th of `of`, with its outcome in words.
    Trust {
        ods: &'a str,
        done: usize,
        of: usize,
        outcome: &'a str,
    },
}

type Callback = dyn Fn(Event<'_>) + Send + Sync;

/// Where progress goes: a callback, or nowhere (the default).
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<Callback>>);

impl Progress {
    /// Report every event to `f`.
    pub fn new(f: impl Fn(Event<'_>) + Send + Sync + 'static) -> Self {
        Progress(Some(Arc::new(f)))
    }

    /// Report nothing.
    pub fn none() -> Self {
        Progress(None)
    }

    /// Whether anyone listens.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    pub fn report(&self, event: Event<'_>) {
        if let Some(f) = &self.0 {
            f(event);
        }
    }

    /// `Step` events of one deployment.
    pub fn step<'a>(&'a self, deployment: &'a str) -> impl Fn(&str) + 'a {
        move |message| {
            self.report(Event::Step {
                deployment,
                message,
            })
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_on() {
            "Progress(callback)"
        } else {
            "Progress(none)"
        })
    }
}
