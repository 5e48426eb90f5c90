//! The pack as Markdown and as a self-contained HTML page. Both are drawn from one list of [`Block`]s, so
//! they always say the same thing.

use super::{Control, Pack, Status};
use crate::policy::report::GroupResult;
use std::fmt::Write;

enum Block {
    Heading(u8, String),
    Para(String),
    Table(Vec<&'static str>, Vec<Vec<String>>),
    Code(String),
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Met => "met",
        Status::Waived => "waived",
        Status::Violated => "VIOLATED",
        Status::Deployed => "deployed",
        Status::NotDeployed => "not deployed",
    }
}

/// A group's state after deployment, in Azure's words (`Unknown` is what Azure could not decide).
fn after_word(s: crate::policy::PolicyState) -> &'static str {
    use crate::policy::PolicyState as S;
    match s {
        S::NonCompliant => "non-compliant",
        S::Compliant | S::Exempt => "compliant",
        S::NotEvaluable => "unknown",
        S::NotApplicable | S::Disabled => "not applicable",
    }
}

fn blocks(p: &Pack) -> Vec<Block> {
    use Block::*;
    let mut b = vec![
        Heading(
            1,
            format!("Evidence pack: {} ({})", p.trust.name, p.trust.ods_code),
        ),
        Para(format!(
            "Generated at {} by trustprint {}. Blueprint {} {} from {}{}. Render hash {}.",
            p.generated_at,
            p.trustprint_version,
            p.blueprint.name,
            p.blueprint.version,
            p.blueprint.source,
            p.blueprint
                .commit
                .as_ref()
                .map(|c| format!(" at commit {c}"))
                .unwrap_or_default(),
            p.render_hash
        )),
        Heading(2, "Summary".into()),
    ];
    let count = |s: Status| p.controls.iter().filter(|c| c.status == s).count();
    b.push(Para(format!(
        "Guardrails {} over {} resources: {} violation(s), {} waived finding(s). Controls: {} met, {} waived, {} \
         violated; estate controls {} deployed, {} not deployed. {} policy assignment(s).",
        if p.guardrails.passed { "passed" } else { "FAILED" },
        p.guardrails.resources_checked,
        p.guardrails.violations.len(),
        p.guardrails.waived.len(),
        count(Status::Met),
        count(Status::Waived),
        count(Status::Violated),
        count(Status::Deployed),
        count(Status::NotDeployed),
        p.policy_assignments.len()
    )));

    b.push(Heading(2, "Controls and what they support".into()));
    b.push(Para(
        "Each control with its state in this trust, the NCSC cloud security principles, the groups of the \
         UK OFFICIAL and UK NHS policy initiative and the DSPT (CAF-aligned) outcomes it supports."
            .into(),
    ));
    b.push(Table(
        vec![
            "Control",
            "State",
            "NCSC principles",
            "UK OFFICIAL groups",
            "DSPT outcomes",
        ],
        p.controls
            .iter()
            .map(|c: &Control| {
                vec![
                    format!("{} {}", c.id, c.title),
                    match c.status {
                        Status::Met | Status::NotDeployed => status_word(c.status).to_string(),
                        Status::Waived | Status::Violated => {
                            format!(
                                "{} ({} finding(s))",
                                status_word(c.status),
                                c.resources.len()
                            )
                        }
                        Status::Deployed => format!("deployed ({} resource(s))", c.resources.len()),
                    },
                    c.ncsc.join("; "),
                    c.uk_official_groups.join(", "),
                    c.dspt.join("; "),
                ]
            })
            .collect(),
    ));

    b.push(Heading(2, "Guardrail findings".into()));
    if p.guardrails.violations.is_empty() && p.guardrails.waived.is_empty() {
        b.push(Para("No findings.".into()));
    } else {
        let mut rows: Vec<Vec<String>> = Vec::new();
        for f in &p.guardrails.violations {
            rows.push(vec![
                f.rule.clone(),
                "violation".into(),
                f.resource_id.clone(),
                f.detail.clone(),
                String::new(),
            ]);
        }
        for f in &p.guardrails.waived {
            rows.push(vec![
                f.rule.clone(),
                "waived".into(),
                f.resource_id.clone(),
                f.detail.clone(),
                f.justification.clone().unwrap_or_default(),
            ]);
        }
        b.push(Table(
            vec![
                "Rule",
                "Finding",
                "Resource",
                "Detail",
                "Waiver justification",
            ],
            rows,
        ));
    }
    for w in &p.guardrails.warnings {
        b.push(Para(format!("Warning: {w}")));
    }

    b.push(Heading(2, "Policy assignments".into()));
    b.push(Table(
        vec!["Assignment", "Definition", "Enforcement"],
        p.policy_assignments
            .iter()
            .map(|a| {
                vec![
                    format!("{} ({})", a.display_name, a.id),
                    a.policy_definition_id.clone(),
                    a.enforcement_mode.clone(),
                ]
            })
            .collect(),
    ));

    b.push(Heading(2, "Azure Policy compliance".into()));
    for c in &p.policy_compliance {
        let after = c.after_deployment.as_ref();
        let after_text = match after {
            None => " No target was given, so the states after deployment are not shown (evidence --target \
                      local|azure reads them)."
                .to_string(),
            Some(a) if a.status == super::after::Status::NotEvaluated => format!(
                " After deployment: not evaluated. {}.",
                a.message.as_deref().unwrap_or_default()
            ),
            Some(a) => format!(
                " After deployment: compliance {} in subscription {} of the {}, evaluated at {} (assignment {}).",
                a.compliance_percent
                    .map_or("n/a".to_string(), |v| format!("{v:.1}%")),
                a.subscription_id,
                a.target,
                a.evaluated_at.as_deref().unwrap_or("?"),
                a.assignments.join(", ")
            ),
        };
        b.push(Para(format!(
            "{}{}: compliance {} evaluated {}. Not evaluable: Azure decides after deployment (Defender \
             assessments, guest configuration, data plane) or the alias data lacks a field; see `trustprint check \
             --policy`.{after_text}",
            c.display_name,
            c.version.as_deref().map(|v| format!(" v{v}")).unwrap_or_default(),
            c.compliance_percent
                .map_or("n/a".to_string(), |v| format!("{v:.1}%")),
            c.evaluated
        )));
        let counts = |g: &GroupResult| {
            format!(
                "{} / {} / {} / {}",
                g.non_compliant, g.compliant, g.not_evaluable, g.not_applicable
            )
        };
        b.push(Table(
            vec![
                "Group",
                "Control",
                "Before deployment",
                "After deployment",
                "DSPT outcomes",
                "Policies non-compliant / compliant / not evaluable / not applicable (before; after)",
            ],
            c.groups
                .iter()
                .map(|g| {
                    let evaluated = after
                        .filter(|a| a.status == super::after::Status::Evaluated)
                        .and_then(|a| a.groups.iter().find(|x| x.name == g.name));
                    vec![
                        g.name.clone(),
                        g.title.clone(),
                        g.state.as_str().to_string(),
                        match (after, evaluated) {
                            (None, _) => "-".into(),
                            (Some(_), None) => "not evaluated".into(),
                            (Some(_), Some(x)) => after_word(x.state).into(),
                        },
                        c.dspt.get(&g.name).map(|d| d.join("; ")).unwrap_or_default(),
                        match evaluated {
                            Some(x) => format!("{}; {}", counts(g), counts(x)),
                            None => counts(g),
                        },
                    ]
                })
                .collect(),
        ));
    }

    b.push(Heading(2, "Last plan and deployment".into()));
    match &p.deployment.plan {
        Some(plan) => b.push(Para(format!(
            "Plan {}: {} (render hash {}){}.",
            plan.file,
            plan.summary,
            plan.render_hash,
            if plan.data_loss.is_empty() {
                String::new()
            } else {
                format!(
                    "; deletes data-bearing resources: {}",
                    plan.data_loss.join(", ")
                )
            }
        ))),
        None => b.push(Para("No saved plan was given.".into())),
    }
    match (&p.deployment.record_source, &p.deployment.last) {
        (Some(src), Some(crate::deploy::DeploymentRecord::Apply(a))) => b.push(Para(format!(
            "Last apply (from {src}): {} to {} {}, started {}, finished {}, {} deployment(s), render hash {}.",
            if a.succeeded { "succeeded" } else { "FAILED" },
            a.target.kind.as_str(),
            a.target.subscription_id,
            a.started_at,
            a.finished_at,
            a.deployments.len(),
            a.render_hash
        ))),
        (Some(src), Some(crate::deploy::DeploymentRecord::Destroy(_))) => {
            b.push(Para(format!("The last deployment action recorded in {src} was a destroy.")))
        }
        (Some(src), None) => b.push(Para(format!("{src} records no apply yet."))),
        (None, _) => b.push(Para("No fleet repository was given: no deployment record.".into())),
    }

    b.push(Heading(2, "Values (secrets removed)".into()));
    b.push(Para(format!(
        "Secret parameters, supplied at deployment and never recorded: {}.",
        if p.secret_parameters.is_empty() {
            "none".to_string()
        } else {
            p.secret_parameters.join(", ")
        }
    )));
    b.push(Code(
        serde_json::to_string_pretty(&p.values).unwrap_or_default(),
    ));

    b.push(Heading(2, "About the mapping".into()));
    b.push(Para(p.mapping_about.clone()));
    b.push(Table(
        vec!["Source", "Where"],
        p.mapping_sources
            .iter()
            .map(|s| vec![s.name.clone(), s.url.clone()])
            .collect(),
    ));
    b
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The pack as Markdown.
pub(super) fn markdown(p: &Pack) -> String {
    let mut s = String::new();
    for block in blocks(p) {
        match block {
            Block::Heading(level, text) => {
                let _ = writeln!(s, "{} {text}\n", "#".repeat(level as usize));
            }
            Block::Para(text) => {
                let _ = writeln!(s, "{text}\n");
            }
            Block::Table(headers, rows) => {
                let _ = writeln!(s, "| {} |", headers.join(" | "));
                let _ = writeln!(s, "|{}", " --- |".repeat(headers.len()));
                for row in rows {
                    let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
                    let _ = writeln!(s, "| {} |", cells.join(" | "));
                }
                s.push('\n');
            }
            Block::Code(text) => {
                let _ = writeln!(s, "```json\n{text}\n```\n");
            }
        }
    }
    s
}

/// Text escaped for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem;color:#212b32}\
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #aeb7bd;padding:.3rem .5rem;\
vertical-align:top;text-align:left}th{background:#005eb8;color:#fff}pre{background:#f0f4f5;padding:1rem;\
overflow:auto}.violated{color:#d5281b;font-weight:bold}";

/// The pack as one HTML page with no external assets.
pub(super) fn html(p: &Pack) -> String {
    let mut s = format!(
        "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n<title>Evidence pack: {} ({})\
         </title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&p.trust.name),
        esc(&p.trust.ods_code)
    );
    for block in blocks(p) {
        match block {
            Block::Heading(level, text) => {
                let _ = writeln!(s, "<h{level}>{}</h{level}>", esc(&text));
            }
            Block::Para(text) => {
                let _ = writeln!(s, "<p>{}</p>", esc(&text));
            }
            Block::Table(headers, rows) => {
                s.push_str("<table>\n<tr>");
                for h in headers {
                    let _ = write!(s, "<th>{}</th>", esc(h));
                }
                s.push_str("</tr>\n");
                for row in rows {
                    s.push_str("<tr>");
                    for cell in row {
                        let class = if cell.starts_with("VIOLATED") {
                            " class=\"violated\""
                        } else {
                            ""
                        };
                        let _ = write!(s, "<td{class}>{}</td>", esc(&cell));
                    }
                    s.push_str("</tr>\n");
                }
                s.push_str("</table>\n");
            }
            Block::Code(text) => {
                let _ = writeln!(s, "<pre>{}</pre>", esc(&text));
            }
        }
    }
    s.push_str("</body>\n</html>\n");
    s
}
