//! The human rendering of a [`Report`]: one block per finding, warnings, and a summary line.

use super::{Finding, Report};
use std::fmt::Write;

const RED: &str = "\x1b[31;1m";
const YELLOW: &str = "\x1b[33;1m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

impl Report {
    /// Render for a terminal: every violation, then every waived finding with its justification, then
    /// warnings about stale waivers, then `N violations, M waived, K resources checked`. `color` adds ANSI
    /// colours (callers pass false when `NO_COLOR` is set or output is not a terminal).
    pub fn render_text(&self, color: bool) -> String {
        let paint = |code: &'static str, text: &str| {
            if color {
                format!("{code}{text}{RESET}")
            } else {
                text.to_owned()
            }
        };
        let mut out = String::new();
        for finding in &self.findings {
            let label = match &finding.waiver {
                None => paint(RED, "violation"),
                Some(_) => paint(YELLOW, "waived"),
            };
            write_finding(&mut out, &label, &paint(BOLD, finding.rule.id), finding);
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "{}: {warning}", paint(YELLOW, "warning"));
        }
        if !self.warnings.is_empty() {
            out.push('\n');
        }
        let violations = self.violations().count();
        let waived = self.waived().count();
        let summary = format!(
            "{violations} violation{}, {waived} waived, {} resource{} checked",
            if violations == 1 { "" } else { "s" },
            self.resources_checked,
            if self.resources_checked == 1 { "" } else { "s" },
        );
        let _ = writeln!(
            out,
            "{}",
            if violations > 0 {
                paint(RED, &summary)
            } else {
                summary
            }
        );
        out
    }
}

fn write_finding(out: &mut String, label: &str, rule_id: &str, finding: &Finding) {
    let _ = writeln!(out, "{label} {rule_id} {}", finding.resource_id);
    let _ = writeln!(out, "  reason:     {}", finding.rule.reason);
    let _ = writeln!(out, "  detail:     {}", finding.detail);
    let _ = writeln!(out, "  principle:  NCSC {}", finding.rule.principle);
    let _ = writeln!(out, "  fix:        {}", finding.rule.fix);
    let _ = writeln!(out, "  deployment: {}", finding.deployment);
    if let Some(waiver) = &finding.waiver {
        let _ = writeln!(out, "  waived: {}", waiver.justification);
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::super::{Finding, Report, Rule};

    static RULE: Rule = Rule {
        id: "TP-TEST-001",
        reason: "a reason",
        principle: "2. Asset protection and resilience",
        fix: "a fix",
    };

    fn report() -> Report {
        Report {
            findings: vec![Finding {
                rule: &RULE,
                resource_id: "/subscriptions/s/resourceGroups/rg".into(),
                resource_type: "Microsoft.Resources/resourceGroups".into(),
                deployment: "governance".into(),
                detail: "location is \"westeurope\"".into(),
                waiver: None,
            }],
            resources_checked: 1,
            warnings: vec![],
        }
    }

    #[test]
    fn colour_only_when_asked() {
        let plain = report().render_text(false);
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(
            plain.ends_with("1 violation, 0 waived, 1 resource checked\n"),
            "{plain}"
        );
        let coloured = report().render_text(true);
        assert!(
            coloured.starts_with("\x1b[31;1mviolation\x1b[0m \x1b[1mTP-TEST-001\x1b[0m"),
            "{coloured}"
        );
    }
}
