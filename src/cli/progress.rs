//! The CLI's drawing of the deploy stage's progress: one spinner per deployment on stderr, shown only when
//! stderr is a terminal (and never with `--output json`).

use crate::deploy::progress::{Event, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Spinners for a command's deployments, or no progress at all when `json` or stderr is not a terminal.
pub(super) fn spinners(json: bool) -> Progress {
    if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return Progress::none();
    }
    let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} {prefix:<14} {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let open: Mutex<HashMap<String, ProgressBar>> = Mutex::default();
    Progress::new(move |event| {
        let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Event::Started { deployment } => {
                let bar = bars.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(deployment.to_string());
                bar.set_message("starting");
                bar.enable_steady_tick(Duration::from_millis(120));
                open.insert(deployment.to_string(), bar);
            }
            Event::Step {
                deployment,
                message,
            } => {
                if let Some(bar) = open.get(deployment) {
                    bar.set_message(message.to_string());
                }
            }
            Event::Finished { deployment, state } => {
                if let Some(bar) = open.remove(deployment) {
                    bar.finish_with_message(state.to_string());
                }
            }
            Event::Trust { .. } => {}
        }
    })
}

/// A line on stderr per trust a fleet run finishes (`[3/20] RHW: applied`), unless `json`.
pub(super) fn trust_lines(json: bool) -> Progress {
    if json {
        return Progress::none();
    }
    Progress::new(|event| {
        if let Event::Trust {
            ods,
            done,
            of,
            outcome,
        } = event
        {
            eprintln!("[{done}/{of}] {ods}: {outcome}");
        }
    })
}
