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
