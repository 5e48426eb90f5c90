//! The fleet path: many trusts checked against one opened blueprint, spread over the machine's cores.

use std::path::{Path, PathBuf};
use trustprint::blueprint::SourceSpec;
use trustprint::values::ValuesInput;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn input(file: PathBuf) -> ValuesInput {
    ValuesInput {
        file: Some(file),
        ..ValuesInput::default()
    }
}

#[test]
fn check_many_matches_one_at_a_time_in_input_order_and_keeps_going_past_a_failure() {
    let dir = Path::new(ROOT).join("blueprints/exemplar-epr");
    let blueprint = trustprint::blueprint::open(&SourceSpec::Dir(dir.clone())).unwrap();
    let renderer = trustprint::render::Renderer::new(&blueprint).unwrap();
    let mut examples: Vec<PathBuf> = std::fs::read_dir(dir.join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    examples.sort();
    assert!(examples.len() >= 2, "the exemplar ships example values");
    let mut inputs: Vec<ValuesInput> = examples.iter().cloned().map(input).collect();
    // A missing values file in the middle: its own error, in its own place.
    inputs.insert(1, input(dir.join("examples/no-such-trust.yaml")));
    // Twice over, so both workers have several trusts each.
    let inputs: Vec<ValuesInput> = inputs.iter().chain(inputs.iter()).cloned().collect();

    let many = trustprint::run::check_many(&blueprint, &renderer, &inputs);
    assert_eq!(many.len(), inputs.len());
    for (i, (got, input)) in many.iter().zip(&inputs).enumerate() {
        let one = trustprint::run::check_one(&blueprint, &renderer, input);
        match (got, one) {
            (Ok(got), Ok(one)) => {
                assert_eq!(
                    got.rendered.trust.ods_code, one.rendered.trust.ods_code,
                    "trust {i}"
                );
                assert_eq!(got.rendered.hash, one.rendered.hash, "trust {i}");
                assert_eq!(
                    format!("{:?}", got.report),
                    format!("{:?}", one.report),
                    "trust {i}"
                );
            }
            (Err(got), Err(one)) => assert_eq!(got.to_string(), one.to_string(), "trust {i}"),
            (got, one) => panic!("trust {i}: check_many gave {got:?}, check_one gave {one:?}"),
        }
    }
    assert!(many[1].is_err() && many[1 + examples.len() + 1].is_err());
    assert_eq!(
        many.iter().filter(|r| r.is_ok()).count(),
        2 * examples.len()
    );
}

/// Issue 14: the confirmation reaches the stages as a callback the caller injects (as the plan's display
/// does): `run::apply` asks it, with the command, the target and the question, and a refusal cancels the
/// apply before anything is deployed.
#[test]
// DeployError keeps ARM's whole error; the confirmation returns it as the stages do.
#[allow(clippy::result_large_err)]
fn apply_asks_the_injected_confirmation_and_a_refusal_deploys_nothing() {
    use trustprint::deploy::{Confirmation, DeployError, DeployOptions, TargetKind, TargetOptions};
    let dir = tempfile::tempdir().unwrap();
    let inputs = deploy_cases(dir.path(), "TP_RUN_TEST_UNSET_PASSWORD");
    let target = TargetOptions {
        kind: Some(TargetKind::Local),
        state_dir: Some(dir.path().join("cloud")),
        ..TargetOptions::default()
    };
    let options = DeployOptions {
        target: target.clone(),
        confirm_local: true,
        ..DeployOptions::default()
    };
    let asked = std::sync::Mutex::new(Vec::new());
    let refuse = |c: &Confirmation| {
        asked.lock().unwrap().push(c.clone());
        Err(DeployError::Cancelled {
            command: c.command.clone(),
        })
    };
    let hooks = trustprint::run::Hooks {
        confirm: &refuse,
        ..trustprint::run::Hooks::default()
    };
    let err = trustprint::run::apply(&inputs, &options, None, hooks).unwrap_err();
    assert_eq!(
        err.to_string(),
        "apply cancelled: the answer was not 'yes'; nothing was changed"
    );
    let asked = asked.into_inner().unwrap();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].command, "apply");
    assert!(
        asked[0]
            .prompt
            .starts_with("Apply these changes to local subscription "),
        "{}",
        asked[0].prompt
    );
    // Nothing was deployed: planning again still creates everything.
    let again = trustprint::run::plan(
        &inputs,
        &DeployOptions {
            target,
            ..DeployOptions::default()
        },
    )
    .unwrap();
    let (plan, _) = again.planned.unwrap();
    assert_eq!(
        (
            plan.summary.create,
            plan.summary.modify,
            plan.summary.delete
        ),
        (4, 0, 0)
    );
}

/// Issue 14: progress reaches the stages as a callback the caller injects, like the confirmation: `run::apply`
/// reports each deployment's start, its steps and its end, in that order, and draws nothing itself.
#[test]
fn apply_reports_progress_through_the_injected_callback() {
    use trustprint::deploy::progress::{Event, Progress};
    use trustprint::deploy::{DeployOptions, TargetKind, TargetOptions};
    // A variable of this test's own: no other test reads it.
    std::env::set_var("TP_RUN_PROGRESS_PASSWORD", "Progress-test-pw-1!");
    let dir = tempfile::tempdir().unwrap();
    let inputs = deploy_cases(dir.path(), "TP_RUN_PROGRESS_PASSWORD");
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = std::sync::Arc::clone(&events);
    let options = DeployOptions {
        target: TargetOptions {
            kind: Some(TargetKind::Local),
            state_dir: Some(dir.path().join("cloud")),
            ..TargetOptions::default()
        },
        progress: Progress::new(move |e| {
            seen.lock().unwrap().push(match e {
                Event::Started { deployment } => format!("{deployment} started"),
                Event::Step {
                    deployment,
                    message,
                } => format!("{deployment} {message}"),
                Event::Finished { deployment, state } => format!("{deployment} finished {state}"),
                Event::Trust { ods, .. } => format!("trust {ods}"),
            })
        }),
        ..DeployOptions::default()
    };
    let composed =
        trustprint::run::apply(&inputs, &options, None, trustprint::run::Hooks::default()).unwrap();
    let report = composed.deployed.unwrap().report.unwrap();
    assert!(report.succeeded);
    let events = events.lock().unwrap().clone();
    for d in &report.deployments {
        let of: Vec<&String> = events
            .iter()
            .filter(|e| e.starts_with(&format!("{} ", d.name)))
            .collect();
        assert_eq!(
            of.first().map(|s| s.as_str()),
            Some(format!("{} started", d.name).as_str()),
            "{events:?}"
        );
        assert!(of.contains(&&format!("{} deploying", d.name)), "{events:?}");
        assert_eq!(
            of.last().map(|s| s.as_str()),
            Some(format!("{} finished Succeeded", d.name).as_str()),
            "{events:?}"
        );
    }
    assert!(
        !events.iter().any(|e| e.starts_with("trust ")),
        "{events:?}"
    );
}

/// Royal Berkshire's values for the deploy-cases fixture, written in `dir`, its admin password read from the
/// environment variable `password_env`.
fn deploy_cases(dir: &Path, password_env: &str) -> trustprint::run::Inputs {
    let values = dir.join("values.yaml");
    std::fs::write(
        &values,
        format!("trust:\n  name: ROYAL BERKSHIRE NHS FOUNDATION TRUST\n  ods_code: RHW\nadmin:\n  password: {{env: {password_env}}}\n"),
    )
    .unwrap();
    trustprint::run::Inputs {
        blueprint: SourceSpec::Dir(Path::new(ROOT).join("tests/fixtures/blueprints/deploy-cases")),
        values: input(values),
    }
}
