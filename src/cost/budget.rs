//! The budget check: an estimate against the trust's `budget.monthly_gbp`.
//!
//! Above `warn_at` percent (80 by default) it warns; above `fail_at` (100) it fails, which `trustprint cost`
//! reports as a broken guardrail (exit 3). The same thresholds as the budget alerts the exemplar deploys.

use super::Error;
use serde::Serialize;

/// When to warn and when to fail, in percent of the budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Thresholds {
    pub warn_at: f64,
    pub fail_at: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warn_at: 80.0,
            fail_at: 100.0,
        }
    }
}

impl Thresholds {
    /// Both positive and the warning no later than the failure.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.warn_at > 0.0 && self.fail_at > 0.0 && self.warn_at <= self.fail_at) {
            return Err(Error::Thresholds {
                warn_at: self.warn_at,
                fail_at: self.fail_at,
            });
        }
        Ok(())
    }
}

/// Where the estimate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BudgetStatus {
    Within,
    Warning,
    Over,
}

/// The estimate against the budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetCheck {
    pub budget_gbp: f64,
    pub estimate_gbp: f64,
    /// The estimate in percent of the budget, to one decimal place.
    pub percent: f64,
    pub warn_at: f64,
    pub fail_at: f64,
    pub status: BudgetStatus,
}

impl BudgetCheck {
    /// Check `estimate` against `budget` (both GBP a month).
    pub fn new(estimate: f64, budget: f64, thresholds: &Thresholds) -> Self {
        let percent = if budget > 0.0 {
            (estimate / budget * 1000.0).round() / 10.0
        } else {
            f64::INFINITY
        };
        // Compared unrounded, so 100.04% of the budget is over it, not "100.0% and within".
        let exact = if budget > 0.0 {
            estimate / budget * 100.0
        } else {
            f64::INFINITY
        };
        let status = if exact > thresholds.fail_at {
            BudgetStatus::Over
        } else if exact > thresholds.warn_at {
            BudgetStatus::Warning
        } else {
            BudgetStatus::Within
        };
        BudgetCheck {
            budget_gbp: budget,
            estimate_gbp: estimate,
            percent,
            warn_at: thresholds.warn_at,
            fail_at: thresholds.fail_at,
            status,
        }
    }
}

impl std::fmt::Display for BudgetCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = match self.status {
            BudgetStatus::Within => "within budget".to_string(),
            BudgetStatus::Warning => format!("warning: above {}% of the budget", self.warn_at),
            BudgetStatus::Over => format!("over budget: above {}%", self.fail_at),
        };
        write!(
            f,
            "Budget: £{:.2} a month; the estimate is {:.1}% of it ({verdict})",
            self.budget_gbp, self.percent
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_strictly_above() {
        let t = Thresholds::default();
        assert_eq!(
            BudgetCheck::new(800.0, 1000.0, &t).status,
            BudgetStatus::Within
        );
        assert_eq!(
            BudgetCheck::new(800.01, 1000.0, &t).status,
            BudgetStatus::Warning
        );
        assert_eq!(
            BudgetCheck::new(1000.0, 1000.0, &t).status,
            BudgetStatus::Warning
        );
        assert_eq!(
            BudgetCheck::new(1000.01, 1000.0, &t).status,
            BudgetStatus::Over
        );
        let strict = Thresholds {
            warn_at: 50.0,
            fail_at: 90.0,
        };
        assert_eq!(
            BudgetCheck::new(600.0, 1000.0, &strict).status,
            BudgetStatus::Warning
        );
        assert_eq!(
            BudgetCheck::new(950.0, 1000.0, &strict).status,
            BudgetStatus::Over
        );
    }

    #[test]
    fn inverted_thresholds_are_refused() {
        let err = Thresholds {
            warn_at: 90.0,
            fail_at: 80.0,
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--warn-at 90 --fail-at 80: expected two percentages above 0 with --warn-at no higher \
             than --fail-at"
        );
    }
}
