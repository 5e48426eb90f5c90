//! How long applying a trust must take at least on a cloud whose every request takes `latency` and whose
//! every operation step takes `lro` (the local cloud's `--latency-ms` and `--lro-ms`), and the bound that
//! gives a fleet applied `concurrency` trusts at a time. The benchmarks compare measured applies with it.
//!
//! The model counts only what no client can avoid, as trustprint's apply proceeds (connect, plan, then the
//! deployments in dependency order, independent ones concurrently), so it is a lower bound:
//! - connect: one request (the trust's subscription is read); the token is the run's, not the trust's;
//! - plan: the deployments' what-ifs run concurrently, so the plan takes its slowest deployment: a
//!   resource-group deployment reads its group (one request) and, if the group exists, what-ifs; a
//!   subscription deployment always what-ifs. A what-if is a POST, the operation time `lro` the local cloud
//!   takes before it answers, and the poll that reads the answer: `2 × latency + lro`. On a fresh target
//!   (`fresh`) no resource group exists at plan time, so only subscription deployments what-if;
//! - apply, per deployment: read its resource group (resource-group scope), read the deployment (not
//!   there), PUT it, the local cloud's `lro` before it starts (Accepted) and one `lro` per step of its
//!   template ([`crate::armexpr::engine_steps`]: dependency layers, nested deployments in full), the poll
//!   that sees it finished and the final read of the deployment: `(4 or 5) × latency + (1 + steps) × lro`.
//!   A deployment starts when the last of its `dependsOn` has finished: the apply takes the longest path
//!   through the deployment graph.
//!
//! Not counted (so the bound stays below any real run): creating a missing resource group, seeding Key
//! Vault references beyond one read each, polls that find the operation still running, the latency jitter
//! the local cloud adds above `latency`, retries, rendering, checking and recording.
//!
//! For a fleet of N trusts with critical paths `T_1 ≥ T_2 ≥ … ≥ T_N` run at most C at a time, no schedule
//! beats `max(T_1, ΣT / C, max_k (T_(kC−k+1) + … + T_(kC+1)))`: the longest trust, the total work spread
//! over C slots, and, for each k with kC + 1 ≤ N, the kC + 1 longest trusts, of which some slot runs k + 1 in
//! turn (k = 1: `T_C + T_(C+1)`; for N equal trusts, `⌈N / C⌉ × T`) ([`fleet_bound`]).

use crate::model::{Rendered, Scope};
use std::collections::HashMap;
use std::time::Duration;

/// The local cloud's timing: the least time a request takes and the time of one operation step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// `--latency-ms`: added to every request (the local cloud adds up to half as much again at random).
    pub latency: Duration,
    /// `--lro-ms`: the local cloud's time per operation step.
    pub lro: Duration,
}

/// One deployment's share of a trust's critical path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentTime {
    pub name: String,
    /// Steps of the local cloud's engine ([`crate::armexpr::engine_steps`]).
    pub steps: usize,
    /// Whether the plan what-ifs it.
    pub what_if: bool,
    /// Its plan time (the what-if, or reading its resource group).
    pub plan: Duration,
    /// Its apply time, from its start to its end.
    pub apply: Duration,
}

/// A trust's critical path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriticalPath {
    /// The deployments, in the rendered order.
    pub deployments: Vec<DeploymentTime>,
    /// Reading the subscription.
    pub connect: Duration,
    /// The slowest deployment's plan.
    pub plan: Duration,
    /// The longest path through the deployment graph.
    pub apply: Duration,
    /// The deployments on that path, first to last.
    pub path: Vec<String>,
    /// `connect + plan + apply`.
    pub total: Duration,
}

/// The critical path of applying `rendered` on a cloud timed as `timing`; `fresh` when none of its
/// resource groups exists yet (see the module docs for what is counted).
pub fn critical_path(
    rendered: &Rendered,
    timing: &Timing,
    fresh: bool,
) -> Result<CriticalPath, super::DeployError> {
    let (lat, lro) = (timing.latency, timing.lro);
    let ctx = crate::armexpr::StaticContext::default();
    // Each referenced Key Vault secret is read once before the plan (more when it must be seeded).
    let references: std::collections::BTreeSet<String> = rendered
        .deployments
        .iter()
        .flat_map(|d| d.parameters["parameters"].as_object().into_iter().flatten())
        .filter_map(|(_, p)| {
            let r = &p["reference"];
            Some(format!(
                "{}/secrets/{}",
                r["keyVault"]["id"].as_str()?,
                r["secretName"].as_str()?
            ))
        })
        .collect();
    let references = references.len();
    let connect = lat * (1 + u32::try_from(references).unwrap_or(u32::MAX));
    let mut deployments = Vec::new();
    for d in &rendered.deployments {
        let steps =
            crate::armexpr::engine_steps(d, &ctx).map_err(|e| super::DeployError::Internal {
                message: format!("deployment {}: counting its steps: {e}", d.name),
            })?;
        let group = d.scope == Scope::ResourceGroup;
        let what_if = !group || !fresh;
        let plan = lat * u32::from(group)
            + if what_if {
                lat * 2 + lro
            } else {
                Duration::ZERO
            };
        let requests = 4 + u32::from(group);
        let apply = lat * requests + lro * (1 + u32::try_from(steps).unwrap_or(u32::MAX));
        deployments.push(DeploymentTime {
            name: d.name.clone(),
            steps,
            what_if,
            plan,
            apply,
        });
    }
    let plan = deployments.iter().map(|d| d.plan).max().unwrap_or_default();
    // Longest path: the rendered deployments are in dependency order, so one pass finds each one's finish.
    let index: HashMap<&str, usize> = rendered
        .deployments
        .iter()
        .enumerate()
        .map(|(i, d)| (d.name.as_str(), i))
        .collect();
    let mut finish: Vec<Duration> = Vec::with_capacity(deployments.len());
    let mut before: Vec<Option<usize>> = Vec::with_capacity(deployments.len());
    for (i, d) in rendered.deployments.iter().enumerate() {
        let dep = d
            .depends_on
            .iter()
            .filter_map(|n| index.get(n.as_str()).copied())
            .filter(|&j| j < i)
            .max_by_key(|&j| finish[j]);
        finish.push(dep.map_or(Duration::ZERO, |j| finish[j]) + deployments[i].apply);
        before.push(dep);
    }
    let (mut path, apply) = match (0..finish.len()).max_by_key(|&i| finish[i]) {
        Some(last) => {
            let mut path = vec![last];
            while let Some(p) = before[path[path.len() - 1]] {
                path.push(p);
            }
            (path, finish[last])
        }
        None => (Vec::new(), Duration::ZERO),
    };
    path.reverse();
    Ok(CriticalPath {
        path: path
            .into_iter()
            .map(|i| deployments[i].name.clone())
            .collect(),
        deployments,
        connect,
        plan,
        apply,
        total: connect + plan + apply,
    })
}

/// The least time a fleet of trusts can take, run at most C at a time, and its terms (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetBound {
    /// `T_1`: the longest trust.
    pub longest: Duration,
    /// `ΣT / C`: the work spread evenly over the C slots.
    pub spread: Duration,
    /// `max over k ≥ 1 with kC + 1 ≤ N of T_(kC−k+1) + … + T_(kC+1)`: of the kC + 1 longest trusts, some slot
    /// runs k + 1 one after the other, at least the k + 1 shortest of them (k = 1: `T_C + T_(C+1)`).
    pub stacked: Duration,
    /// The largest of the three.
    pub bound: Duration,
}

/// The least time a fleet of trusts with critical paths `paths` can take, run at most `concurrency` at a
/// time: `max(T_1, ΣT / C, max_k (T_(kC−k+1) + … + T_(kC+1)))`, `T` in decreasing order (module docs).
pub fn fleet_bound(paths: &[Duration], concurrency: usize) -> FleetBound {
    let c = concurrency.max(1);
    let mut sorted = paths.to_vec();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let longest = sorted.first().copied().unwrap_or_default();
    let total: Duration = sorted.iter().sum();
    let spread = total.div_f64(c as f64);
    let mut stacked = Duration::ZERO;
    let mut k = 1;
    while k * c < sorted.len() {
        // 1-based T_(kC−k+1) ..= T_(kC+1) are 0-based kC−k ..= kC.
        stacked = stacked.max(sorted[k * c - k..=k * c].iter().sum());
        k += 1;
    }
    FleetBound {
        longest,
        spread,
        stacked,
        bound: longest.max(spread).max(stacked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BlueprintRef, RenderedDeployment, TrustRef};
    use serde_json::json;

    fn deployment(
        name: &str,
        scope: Scope,
        depends_on: &[&str],
        template: serde_json::Value,
    ) -> RenderedDeployment {
        RenderedDeployment {
            name: name.into(),
            scope,
            resource_group: (scope == Scope::ResourceGroup).then(|| format!("rg-{name}")),
            location: "uksouth".into(),
            template_path: format!("{name}.json.tera"),
            template,
            parameters: json!({"parameters": {}}),
            secret_env: Default::default(),
            depends_on: depends_on.iter().map(|s| s.to_string()).collect(),
            hash: "sha256:00".into(),
            stack: None,
        }
    }

    fn storage(name: &str, depends_on: &[&str]) -> serde_json::Value {
        json!({"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": name,
               "location": "uksouth", "kind": "StorageV2", "sku": {"name": "Standard_LRS"},
               "dependsOn": depends_on})
    }

    fn template(resources: Vec<serde_json::Value>) -> serde_json::Value {
        json!({"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
               "contentVersion": "1.0.0.0", "resources": resources})
    }

    fn rendered(deployments: Vec<RenderedDeployment>) -> Rendered {
        Rendered {
            trust: TrustRef {
                name: "T".into(),
                ods_code: "RM3".into(),
            },
            blueprint: BlueprintRef {
                name: "b".into(),
                version: "1".into(),
                source: "embedded".into(),
                commit: None,
            },
            deployments,
            hash: "sha256:00".into(),
        }
    }

    #[test]
    fn the_path_follows_the_slowest_chain_of_deployments_and_of_resources() {
        let ms = Duration::from_millis;
        // a: subscription scope, 1 layer; b after a: a chain of 3 storage accounts (3 layers);
        // c after a: 2 independent accounts (1 layer).
        let r = rendered(vec![
            deployment(
                "a",
                Scope::Subscription,
                &[],
                template(vec![json!({"type": "Microsoft.Resources/resourceGroups",
                    "apiVersion": "2022-09-01", "name": "rg-b", "location": "uksouth"})]),
            ),
            deployment(
                "b",
                Scope::ResourceGroup,
                &["a"],
                template(vec![
                    storage("sta", &[]),
                    storage("stb", &["sta"]),
                    storage("stc", &["stb"]),
                ]),
            ),
            deployment(
                "c",
                Scope::ResourceGroup,
                &["a"],
                template(vec![storage("std", &[]), storage("ste", &[])]),
            ),
        ]);
        let t = Timing {
            latency: ms(50),
            lro: ms(2000),
        };
        let p = critical_path(&r, &t, true).unwrap();
        let steps: Vec<usize> = p.deployments.iter().map(|d| d.steps).collect();
        assert_eq!(steps, vec![1, 3, 1]);
        assert_eq!(p.connect, ms(50));
        // Fresh: only a (subscription scope) what-ifs: POST, 2 s, poll.
        assert_eq!(p.plan, ms(2100));
        // a: 4 requests + (1 + 1) × 2 s; b: 5 requests + (1 + 3) × 2 s.
        assert_eq!(p.deployments[0].apply, ms(4 * 50 + 4000));
        assert_eq!(p.deployments[1].apply, ms(5 * 50 + 8000));
        assert_eq!(p.path, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(p.apply, ms(4200 + 8250));
        assert_eq!(p.total, ms(50 + 2100 + 12450));
        // An existing estate: every deployment what-ifs (concurrently), after reading its group.
        let again = critical_path(&r, &t, false).unwrap();
        assert_eq!(again.plan, ms(50 + 2100));
    }

    #[test]
    fn nested_deployments_add_their_own_steps_to_their_layer() {
        let nested = json!({"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01",
            "name": "inner", "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
            "template": template(vec![storage("sta", &[]), storage("stb", &["sta"])])}});
        let r = rendered(vec![deployment(
            "a",
            Scope::ResourceGroup,
            &[],
            template(vec![storage("stc", &[]), nested]),
        )]);
        let p = critical_path(
            &r,
            &Timing {
                latency: Duration::ZERO,
                lro: Duration::from_secs(1),
            },
            true,
        )
        .unwrap();
        // One layer (stc and the nested deployment), plus the nested template's two.
        assert_eq!(p.deployments[0].steps, 3);
        assert_eq!(p.total, Duration::from_secs(4));
    }

    #[test]
    fn the_fleet_bound_is_the_longest_trust_the_work_spread_over_the_slots_or_trusts_stacked_in_one(
    ) {
        let s = Duration::from_secs;
        let bound = |paths: &[Duration], c| fleet_bound(paths, c).bound;
        let paths = [s(10), s(8), s(6), s(6)];
        assert_eq!(bound(&paths, 4), s(10));
        assert_eq!(bound(&paths, 10), s(10));
        // Two slots: 30 s of work over 2 is 15 s; two of the three longest share a slot: 8 + 6 = 14 s.
        assert_eq!(bound(&paths, 2), s(15));
        // Three slots: 10 s of spread, but two of the four longest share a slot: 6 + 6 = 12 s.
        assert_eq!(bound(&paths, 3), s(12));
        assert_eq!(bound(&[], 3), Duration::ZERO);
        // Five equal trusts over two slots take three rounds, more than the 25 s of spread.
        let b = fleet_bound(&[s(10); 5], 2);
        assert_eq!((b.spread, b.stacked, b.bound), (s(25), s(30), s(30)));
    }
}
