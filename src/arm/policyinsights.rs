//! Microsoft.PolicyInsights: the compliance states Azure Policy (or the local cloud) recorded after
//! deployment, read as Microsoft's REST API defines them (api-version 2019-10-01, the one Microsoft's
//! `azure-mgmt-policyinsights` SDK calls).
//!
//! Contract:
//! - Pure request builders ([`query_results`], [`next_page`], [`summarize`], [`trigger_evaluation`]),
//!   unit-tested on method, URL and body.
//! - [`ArmClient::policy_states`] reads every page of `POST {scope}/providers/Microsoft.PolicyInsights/
//!   policyStates/latest/queryResults`, following `@odata.nextLink` (POSTed, as the SDK does) until a page has
//!   none; a link that repeats is an [`Error::UnexpectedResponse`], never an endless loop.
//! - [`ArmClient::summarize_policy_states`] is one `POST .../summarize`.
//! - [`ArmClient::trigger_policy_evaluation`] starts an on-demand evaluation scan
//!   (`POST .../policyStates/latest/triggerEvaluation`, 202 with `Location`) and polls it to its end with our
//!   own poller.
//! - Responses are read into lenient models of our own: unknown fields are ignored, unknown compliance states
//!   are kept as text.

use super::client::ArmClient;
use super::error::{Error, Result};
use super::request::{arm_url, get_absolute, ArmRequest, Method};
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

/// The api-version of the Microsoft.PolicyInsights calls.
pub const POLICY_INSIGHTS_API_VERSION: &str = "2019-10-01";

/// What `queryResults` takes besides the scope (OData query options).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// `$filter`, e.g. `policySetDefinitionName eq '3937f550-eedd-4639-9c5e-294358be442e'`.
    pub filter: Option<String>,
    /// `$select`: comma-separated field names.
    pub select: Option<String>,
    /// `$orderby`.
    pub order_by: Option<String>,
    /// `$top`: at most this many states in all.
    pub top: Option<u32>,
}

fn insights_url(endpoint: &Url, scope: &str, action: &str) -> Result<Url> {
    let scope = scope.trim_end_matches('/');
    arm_url(
        endpoint,
        &format!("{scope}/providers/Microsoft.PolicyInsights/policyStates/latest/{action}"),
        POLICY_INSIGHTS_API_VERSION,
    )
}

/// `POST {scope}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults` with the query options.
/// `scope` is a management group (`/providers/Microsoft.Management/managementGroups/{mg}`), a subscription, a
/// resource group or a resource id.
pub fn query_results(endpoint: &Url, scope: &str, options: &QueryOptions) -> Result<ArmRequest> {
    let mut url = insights_url(endpoint, scope, "queryResults")?;
    {
        let mut q = url.query_pairs_mut();
        if let Some(top) = options.top {
            q.append_pair("$top", &top.to_string());
        }
        if let Some(o) = &options.order_by {
            q.append_pair("$orderby", o);
        }
        if let Some(s) = &options.select {
            q.append_pair("$select", s);
        }
        if let Some(f) = &options.filter {
            q.append_pair("$filter", f);
        }
    }
    Ok(ArmRequest {
        method: Method::Post,
        url,
        body: None,
    })
}

/// The next page of `queryResults`: ARM's `@odata.nextLink`, POSTed as the first page was (Microsoft's SDK
/// does the same). The link must be on the endpoint's origin, as any link the token goes with.
pub fn next_page(endpoint: &Url, link: &str) -> Result<ArmRequest> {
    let get = get_absolute(endpoint, link)?;
    Ok(ArmRequest {
        method: Method::Post,
        ..get
    })
}

/// `POST {scope}/providers/Microsoft.PolicyInsights/policyStates/latest/summarize[?$filter=...]`.
pub fn summarize(endpoint: &Url, scope: &str, filter: Option<&str>) -> Result<ArmRequest> {
    let mut url = insights_url(endpoint, scope, "summarize")?;
    if let Some(f) = filter {
        url.query_pairs_mut().append_pair("$filter", f);
    }
    Ok(ArmRequest {
        method: Method::Post,
        url,
        body: None,
    })
}

/// `POST /subscriptions/{s}[/resourceGroups/{rg}]/providers/Microsoft.PolicyInsights/policyStates/latest/
/// triggerEvaluation`: an on-demand evaluation scan (Azure answers 202 and a `Location` to poll).
pub fn trigger_evaluation(
    endpoint: &Url,
    subscription_id: &str,
    resource_group: Option<&str>,
) -> Result<ArmRequest> {
    let scope = match resource_group {
        Some(rg) => format!("/subscriptions/{subscription_id}/resourceGroups/{rg}"),
        None => format!("/subscriptions/{subscription_id}"),
    };
    Ok(ArmRequest {
        method: Method::Post,
        url: insights_url(endpoint, &scope, "triggerEvaluation")?,
        body: Some(json!({})),
    })
}

/// One compliance state: a resource's state for one policy of one assignment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyState {
    /// When the state was evaluated (RFC 3339).
    pub timestamp: String,
    pub resource_id: String,
    pub resource_type: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub policy_assignment_id: String,
    pub policy_assignment_name: String,
    pub policy_definition_id: String,
    pub policy_definition_name: String,
    /// The effect (`audit`, `deny`, `auditifnotexists`, ...), lower case as Azure writes it.
    pub policy_definition_action: String,
    /// Empty when the assignment is of a single definition.
    pub policy_set_definition_id: String,
    pub policy_set_definition_name: String,
    pub policy_definition_reference_id: String,
    pub policy_definition_group_names: Vec<String>,
    /// `Compliant`, `NonCompliant`, `Exempt`, `Protected`, `Unknown`, or whatever Azure adds next.
    pub compliance_state: String,
    /// Older api-versions give only this.
    pub is_compliant: Option<bool>,
}

impl PolicyState {
    /// The compliance state, from `complianceState` or, when absent, `isCompliant`.
    pub fn state(&self) -> &str {
        if !self.compliance_state.is_empty() {
            return &self.compliance_state;
        }
        match self.is_compliant {
            Some(true) => "Compliant",
            Some(false) => "NonCompliant",
            None => "Unknown",
        }
    }
}

/// A page of `queryResults`.
#[derive(Debug, Deserialize)]
struct StatesPage {
    #[serde(default)]
    value: Vec<PolicyState>,
    #[serde(rename = "@odata.nextLink", alias = "nextLink", default)]
    next_link: Option<String>,
}

/// How many resources, policies or groups are in one compliance state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ComplianceDetail {
    pub compliance_state: String,
    pub count: u64,
}

/// The counts of a summary (`SummaryResults`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SummaryResults {
    pub query_results_uri: Option<String>,
    pub non_compliant_resources: Option<u64>,
    pub non_compliant_policies: Option<u64>,
    pub resource_details: Vec<ComplianceDetail>,
    pub policy_details: Vec<ComplianceDetail>,
    pub policy_group_details: Vec<ComplianceDetail>,
}

/// One policy of an assignment's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyDefinitionSummary {
    pub policy_definition_id: String,
    pub policy_definition_reference_id: String,
    pub policy_definition_group_names: Vec<String>,
    pub effect: Option<String>,
    pub results: SummaryResults,
}

/// One initiative group of an assignment's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyGroupSummary {
    pub policy_group_name: String,
    pub results: SummaryResults,
}

/// One assignment's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyAssignmentSummary {
    pub policy_assignment_id: String,
    pub policy_set_definition_id: Option<String>,
    pub results: SummaryResults,
    pub policy_definitions: Vec<PolicyDefinitionSummary>,
    pub policy_groups: Vec<PolicyGroupSummary>,
}

/// `summarize`'s answer at one scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Summary {
    pub results: SummaryResults,
    pub policy_assignments: Vec<PolicyAssignmentSummary>,
}

#[derive(Debug, Deserialize)]
struct SummarizeResults {
    #[serde(default)]
    value: Vec<Summary>,
}

impl ArmClient {
    /// Every latest compliance state at `scope` the options select, page after page.
    pub async fn policy_states(
        &self,
        scope: &str,
        options: &QueryOptions,
    ) -> Result<Vec<PolicyState>> {
        let mut req = query_results(self.endpoint(), scope, options)?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        loop {
            let page: StatesPage = self.send_json(&req).await?;
            out.extend(page.value);
            let Some(link) = page.next_link.filter(|l| !l.is_empty()) else {
                return Ok(out);
            };
            if !seen.insert(link.clone()) {
                return Err(Error::UnexpectedResponse {
                    method: "POST",
                    url: req.url.to_string(),
                    status: 200,
                    message: format!(
                        "@odata.nextLink {link} was already read: the pages would never end"
                    ),
                });
            }
            req = next_page(self.endpoint(), &link)?;
        }
    }

    /// The summary of the latest states at `scope` (the first of `summarize`'s `value`; empty counts when
    /// there is none).
    pub async fn summarize_policy_states(
        &self,
        scope: &str,
        filter: Option<&str>,
    ) -> Result<Summary> {
        let req = summarize(self.endpoint(), scope, filter)?;
        let all: SummarizeResults = self.send_json(&req).await?;
        Ok(all.value.into_iter().next().unwrap_or_default())
    }

    /// Start an on-demand evaluation of a subscription (or one of its resource groups) and wait, with our
    /// own poller, until it is finished (Azure takes minutes; the client's poll timeout bounds the wait).
    pub async fn trigger_policy_evaluation(
        &self,
        subscription_id: &str,
        resource_group: Option<&str>,
    ) -> Result<()> {
        let req = trigger_evaluation(self.endpoint(), subscription_id, resource_group)?;
        self.send_and_wait(&req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Url {
        Url::parse("https://management.azure.com").unwrap()
    }

    #[test]
    fn query_results_is_a_post_at_the_scope_with_the_odata_options() {
        let r = query_results(
            &endpoint(),
            "/subscriptions/s1",
            &QueryOptions {
                filter: Some("policySetDefinitionName eq 'x'".into()),
                top: Some(10),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(r.method, Method::Post);
        assert_eq!(
            r.url.as_str(),
            "https://management.azure.com/subscriptions/s1/providers/Microsoft.PolicyInsights/policyStates/\
             latest/queryResults?api-version=2019-10-01&%24top=10&%24filter=policySetDefinitionName+eq+%27x%27"
        );
        assert_eq!(r.body, None);
        let mg = query_results(
            &endpoint(),
            "/providers/Microsoft.Management/managementGroups/mg-nhs",
            &QueryOptions::default(),
        )
        .unwrap();
        assert_eq!(
            mg.url.path(),
            "/providers/Microsoft.Management/managementGroups/mg-nhs/providers/Microsoft.PolicyInsights/\
             policyStates/latest/queryResults"
        );
        assert!(query_results(&endpoint(), "subscriptions/s1", &QueryOptions::default()).is_err());
    }

    #[test]
    fn a_next_page_is_posted_on_the_same_origin_only() {
        let link =
            "https://management.azure.com/subscriptions/s1/providers/Microsoft.PolicyInsights/\
                    policyStates/latest/queryResults?api-version=2019-10-01&$skiptoken=abc";
        let r = next_page(&endpoint(), link).unwrap();
        assert_eq!((r.method, r.url.as_str()), (Method::Post, link));
        let elsewhere = next_page(&endpoint(), "https://evil.example/steal?x=1").unwrap_err();
        assert!(
            elsewhere.to_string().contains("refusing to send the token"),
            "{elsewhere}"
        );
    }

    #[test]
    fn summarize_and_trigger_evaluation_build_their_urls() {
        let s = summarize(&endpoint(), "/subscriptions/s1/resourceGroups/rg", None).unwrap();
        assert_eq!(s.method, Method::Post);
        assert_eq!(
            s.url.path(),
            "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.PolicyInsights/policyStates/latest/summarize"
        );
        let t = trigger_evaluation(&endpoint(), "s1", None).unwrap();
        assert_eq!(
            t.url.as_str(),
            "https://management.azure.com/subscriptions/s1/providers/Microsoft.PolicyInsights/policyStates/\
             latest/triggerEvaluation?api-version=2019-10-01"
        );
        let t = trigger_evaluation(&endpoint(), "s1", Some("rg-x")).unwrap();
        assert!(t
            .url
            .path()
            .starts_with("/subscriptions/s1/resourceGroups/rg-x/"));
    }

    #[test]
    fn states_are_read_leniently_and_is_compliant_stands_in_for_a_missing_state() {
        let v = json!({"@odata.nextLink": null, "value": [
            {"resourceId": "/subscriptions/s1/x", "complianceState": "Protected", "somethingNew": 1},
            {"resourceId": "/subscriptions/s1/y", "isCompliant": false},
            {"resourceId": "/subscriptions/s1/z"}
        ]});
        let page: StatesPage = serde_json::from_value(v).unwrap();
        assert_eq!(page.next_link, None);
        let got: Vec<&str> = page.value.iter().map(PolicyState::state).collect();
        assert_eq!(got, ["Protected", "NonCompliant", "Unknown"]);
    }
}
