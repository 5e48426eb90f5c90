//! `fleet ci github|azure-devops`: pipeline definitions that run a fleet on an existing CI engine's runners,
//! for fleets larger than one machine: a plan of every trust on pull requests, and on the main branch an apply
//! ring by ring (each ring waits for the one before), a matrix job per trust, authenticated with OIDC workload
//! identity federation (no secret stored in the CI system). Each job commits its trust's record and pushes it,
//! rebasing on the other jobs' pushes.
//!
//! The definitions are built as data and serialised, so they are valid YAML whatever the trust names hold.

use super::Fleet;
use serde_json::{json, Value};

/// Which engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    GitHub,
    AzureDevOps,
}

impl Engine {
    /// Where the definition goes in the fleet repository.
    pub fn path(self) -> &'static str {
        match self {
            Engine::GitHub => ".github/workflows/trustprint-fleet.yml",
            Engine::AzureDevOps => "azure-pipelines.yml",
        }
    }
}

/// The open trusts of each ring, in rollout order; rings without trusts are left out.
pub fn rings(fleet: &Fleet) -> Vec<(String, Vec<String>)> {
    let open: Vec<&String> = fleet
        .file
        .trusts
        .iter()
        .filter(|(_, t)| t.closed.is_none())
        .map(|(ods, _)| ods)
        .collect();
    let mut out: Vec<(String, Vec<String>)> = fleet
        .file
        .rings
        .iter()
        .map(|r| {
            let members = open
                .iter()
                .filter(|ods| fleet.ring_of(ods) == Some(r.name.as_str()))
                .map(|ods| (*ods).clone())
                .collect();
            (r.name.clone(), members)
        })
        .collect();
    if fleet.file.rings.is_empty() {
        out.push(("all".into(), open.into_iter().cloned().collect()));
    }
    out.retain(|(_, members)| !members.is_empty());
    out
}

const INSTALL: &str = "cargo install trustprint --locked --version ";
const PUSH: &str = "git config user.name trustprint-ci\ngit config user.email trustprint-ci@users.noreply.github.com\n\
for attempt in 1 2 3 4 5; do\n  git pull --rebase --quiet && git push --quiet && exit 0\n  sleep $((attempt * 5))\ndone\n\
exit 1\n";

/// The pipeline definition's text, with a header saying how it was made.
pub fn definition(fleet: &Fleet, engine: Engine, concurrency: usize) -> String {
    let rings = rings(fleet);
    let all: Vec<String> = rings.iter().flat_map(|(_, m)| m.clone()).collect();
    let doc = match engine {
        Engine::GitHub => github(&rings, &all, concurrency),
        Engine::AzureDevOps => azure_devops(&rings, &all, concurrency),
    };
    format!(
        "# Written by `trustprint fleet ci {}` from fleet.yaml (rings: {}). Write it again after changing the\n\
         # rings or the trusts. docs/fleets.md says which variables and federated credentials it needs.\n{}",
        match engine {
            Engine::GitHub => "github",
            Engine::AzureDevOps => "azure-devops",
        },
        rings
            .iter()
            .map(|(r, m)| format!("{r} {}", m.len()))
            .collect::<Vec<_>>()
            .join(", "),
        serde_yaml::to_string(&doc).unwrap_or_default()
    )
}

fn job_id(ring: &str) -> String {
    let id: String = ring
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("apply-{id}")
}

fn github(rings: &[(String, Vec<String>)], all: &[String], concurrency: usize) -> Value {
    let version = env!("CARGO_PKG_VERSION");
    let oidc = json!({
        "name": "OIDC token for Azure (workload identity federation)",
        "run": "curl -sSf -H \"Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN\" \
                \"$ACTIONS_ID_TOKEN_REQUEST_URL&audience=api://AzureADTokenExchange\" | jq -r .value > \"$AZURE_FEDERATED_TOKEN_FILE\""
    });
    let env = json!({
        "AZURE_TENANT_ID": "${{ vars.AZURE_TENANT_ID }}",
        "AZURE_CLIENT_ID": "${{ vars.AZURE_CLIENT_ID }}",
        "AZURE_FEDERATED_TOKEN_FILE": "${{ runner.temp }}/azure-oidc-token",
    });
    let steps = |command: &str, push: bool| {
        let mut s = vec![
            json!({"uses": "actions/checkout@v4"}),
            json!({"name": "Install trustprint", "run": format!("{INSTALL}{version}")}),
            oidc.clone(),
            json!({"name": "trustprint", "run": command}),
        ];
        if push {
            s.push(json!({"name": "Push the trust's record", "if": "always()", "run": PUSH}));
        }
        s
    };
    let mut jobs = serde_json::Map::new();
    jobs.insert(
        "plan".into(),
        json!({
            "if": "github.event_name == 'pull_request'",
            "runs-on": "ubuntu-latest",
            "env": env,
            "strategy": {"fail-fast": false, "max-parallel": concurrency, "matrix": {"trust": all}},
            "steps": steps(
                "trustprint fleet plan --fleet . --target azure --trust ${{ matrix.trust }} --detailed-exitcode \
                 || [ $? -eq 2 ]",
                false
            ),
        }),
    );
    let mut previous: Option<String> = None;
    for (ring, members) in rings {
        let id = job_id(ring);
        let mut job = json!({
            "name": format!("apply ring {ring}"),
            "if": "github.event_name != 'pull_request'",
            "runs-on": "ubuntu-latest",
            "environment": "production",
            "permissions": {"id-token": "write", "contents": "write"},
            "env": env,
            "strategy": {"fail-fast": false, "max-parallel": concurrency, "matrix": {"trust": members}},
            "steps": steps(
                "trustprint fleet apply --fleet . --target azure --trust ${{ matrix.trust }} --yes",
                true
            ),
        });
        if let Some(p) = &previous {
            job["needs"] = json!([p]);
        }
        previous = Some(id.clone());
        jobs.insert(id, job);
    }
    json!({
        "name": "trustprint fleet",
        "on": {
            "pull_request": {"branches": ["main"]},
            "push": {"branches": ["main"]},
            "workflow_dispatch": {},
        },
        "permissions": {"id-token": "write", "contents": "read"},
        "concurrency": {"group": "trustprint-fleet-${{ github.ref }}", "cancel-in-progress": false},
        "jobs": jobs,
    })
}

fn azure_devops(rings: &[(String, Vec<String>)], all: &[String], concurrency: usize) -> Value {
    let version = env!("CARGO_PKG_VERSION");
    let matrix = |members: &[String]| -> Value {
        members
            .iter()
            .map(|t| (t.clone(), json!({"trust": t})))
            .collect::<serde_json::Map<String, Value>>()
            .into()
    };
    let task = |command: &str, push: bool| {
        let mut script = format!(
            "{INSTALL}{version}\nexport AZURE_TENANT_ID=\"$tenantId\" AZURE_CLIENT_ID=\"$servicePrincipalId\"\n\
             export AZURE_FEDERATED_TOKEN_FILE=\"$(Agent.TempDirectory)/azure-oidc-token\"\n\
             printf '%s' \"$idToken\" > \"$AZURE_FEDERATED_TOKEN_FILE\"\n{command}\n"
        );
        if push {
            script.push_str("status=$?\ngit checkout -q \"$(Build.SourceBranchName)\" || true\n");
            script.push_str(&PUSH.replace("exit 0", "exit $status"));
        }
        json!([
            {"checkout": "self", "persistCredentials": true},
            {
                "task": "AzureCLI@2",
                "displayName": "trustprint",
                "inputs": {
                    "azureSubscription": "$(TRUSTPRINT_SERVICE_CONNECTION)",
                    "scriptType": "bash",
                    "scriptLocation": "inlineScript",
                    "addSpnToEnvironment": true,
                    "inlineScript": script,
                },
            },
        ])
    };
    let mut stages = vec![json!({
        "stage": "plan",
        "condition": "eq(variables['Build.Reason'], 'PullRequest')",
        "jobs": [{
            "job": "plan",
            "pool": {"vmImage": "ubuntu-latest"},
            "strategy": {"maxParallel": concurrency, "matrix": matrix(all)},
            "steps": task(
                "trustprint fleet plan --fleet . --target azure --trust $(trust) --detailed-exitcode || [ $? -eq 2 ]",
                false
            ),
        }],
    })];
    let mut previous: Option<String> = None;
    for (ring, members) in rings {
        let id = job_id(ring).replace('-', "_");
        let mut stage = json!({
            "stage": id,
            "displayName": format!("apply ring {ring}"),
            "condition": if previous.is_some() {
                "and(succeeded(), ne(variables['Build.Reason'], 'PullRequest'))"
            } else {
                "ne(variables['Build.Reason'], 'PullRequest')"
            },
            "jobs": [{
                "job": "apply",
                "pool": {"vmImage": "ubuntu-latest"},
                "strategy": {"maxParallel": concurrency, "matrix": matrix(members)},
                "steps": task("trustprint fleet apply --fleet . --target azure --trust $(trust) --yes", true),
            }],
        });
        stage["dependsOn"] = match &previous {
            Some(p) => json!([p]),
            None => json!([]),
        };
        previous = Some(id);
        stages.push(stage);
    }
    json!({
        "trigger": {"branches": {"include": ["main"]}},
        "pr": {"branches": {"include": ["main"]}},
        "variables": [{"name": "TRUSTPRINT_SERVICE_CONNECTION", "value": "trustprint-fleet"}],
        "stages": stages,
    })
}
