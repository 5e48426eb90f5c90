//! The PolicyInsights client (`trustprint::arm::policyinsights`) against the scripted mock ARM: paging by
//! `@odata.nextLink`, ARM's errors, and `triggerEvaluation` followed by our own poller.

use super::*;
use trustprint::arm::policyinsights::QueryOptions;

const STATES: &str = "/providers/Microsoft.PolicyInsights/policyStates/latest";

fn state(resource: &str, compliance: &str) -> Value {
    json!({"resourceId": format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/{resource}"),
           "policySetDefinitionName": "3937f550-eedd-4639-9c5e-294358be442e",
           "policyDefinitionReferenceId": "secure-transfer",
           "policyDefinitionGroupNames": ["UK_NCSC_CSP_1"],
           "complianceState": compliance,
           "aFieldFromANewerApiVersion": {"x": 1}})
}

#[tokio::test]
async fn policy_states_follow_odata_next_link_posting_each_page() {
    let mock = Mock::start().await;
    let next = format!(
        "{}/subscriptions/{SUB}{STATES}/queryResults?api-version=2019-10-01&%24skiptoken=page2",
        mock.url
    );
    mock.script([
        Reply::json(
            200,
            json!({"@odata.count": 2, "value": [state("sta", "Compliant"), state("stb", "NonCompliant")],
                   "@odata.nextLink": next}),
        ),
        Reply::json(
            200,
            json!({"@odata.count": 1, "value": [state("stc", "Exempt")]}),
        ),
    ]);
    let states = mock
        .client()
        .policy_states(
            &format!("/subscriptions/{SUB}"),
            &QueryOptions {
                filter: Some(
                    "policySetDefinitionName eq '3937f550-eedd-4639-9c5e-294358be442e'".into(),
                ),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let got: Vec<(&str, &str)> = states
        .iter()
        .map(|s| (s.resource_id.rsplit('/').next().unwrap(), s.state()))
        .collect();
    assert_eq!(
        got,
        [
            ("sta", "Compliant"),
            ("stb", "NonCompliant"),
            ("stc", "Exempt")
        ]
    );
    assert_eq!(states[0].policy_definition_group_names, ["UK_NCSC_CSP_1"]);
    let seen = mock.seen();
    assert_eq!(
        mock.lines(),
        [
            format!("POST /subscriptions/{SUB}{STATES}/queryResults"),
            format!("POST /subscriptions/{SUB}{STATES}/queryResults"),
        ]
    );
    assert!(
        seen[0]
            .query
            .contains("%24filter=policySetDefinitionName+eq+%273937f550"),
        "{}",
        seen[0].query
    );
    assert_eq!(seen[1].query, "api-version=2019-10-01&%24skiptoken=page2");
    assert_eq!(seen[1].authorization.as_deref(), Some("Bearer tok-static"));
}

#[tokio::test]
async fn a_next_link_that_repeats_or_leaves_the_endpoint_is_refused() {
    let mock = Mock::start().await;
    let same = format!(
        "{}/subscriptions/{SUB}{STATES}/queryResults?api-version=2019-10-01&%24skiptoken=1",
        mock.url
    );
    mock.script([
        Reply::json(
            200,
            json!({"value": [state("sta", "Compliant")], "@odata.nextLink": same}),
        ),
        Reply::json(
            200,
            json!({"value": [state("sta", "Compliant")], "@odata.nextLink": same}),
        ),
    ]);
    let e = mock
        .client()
        .policy_states(&format!("/subscriptions/{SUB}"), &QueryOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::UnexpectedResponse { .. }), "{e:?}");
    assert!(e.to_string().contains("was already read"), "{e}");
    assert_eq!(mock.seen().len(), 2);

    let mock = Mock::start().await;
    mock.script([Reply::json(
        200,
        json!({"value": [], "@odata.nextLink": "https://elsewhere.example/steal"}),
    )]);
    let e = mock
        .client()
        .policy_states(&format!("/subscriptions/{SUB}"), &QueryOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidUrl { .. }), "{e:?}");
    assert_eq!(mock.seen().len(), 1, "the token never went elsewhere");
}

#[tokio::test]
async fn arms_errors_are_typed_and_throttling_is_ridden_out() {
    let mock = Mock::start().await;
    mock.script([
        Reply::json(
            429,
            json!({"error": {"code": "SubscriptionRequestsThrottled", "message": "slow down"}}),
        )
        .header("retry-after", "0"),
        Reply::json(
            404,
            json!({"error": {"code": "SubscriptionNotFound",
            "message": format!("The subscription '{SUB}' could not be found.")}}),
        ),
        Reply::json(
            400,
            json!({"error": {"code": "InvalidFilterInQueryString",
            "message": "The $filter 'x' is not valid."}}),
        ),
    ]);
    let client = mock.client();
    let e = client
        .policy_states(&format!("/subscriptions/{SUB}"), &QueryOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(404), Some("SubscriptionNotFound"))
    );
    assert!(
        e.to_string().starts_with(&format!(
            "POST {}/subscriptions/{SUB}{STATES}/queryResults?api-version=2019-10-01: HTTP 404",
            mock.url
        )),
        "{e}"
    );
    let e = client
        .summarize_policy_states(&format!("/subscriptions/{SUB}"), Some("x"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidFilterInQueryString"));
    assert_eq!(mock.seen().len(), 3);
}

#[tokio::test]
async fn summarize_reads_the_groups_of_each_assignment() {
    let mock = Mock::start().await;
    mock.script([Reply::json(200, json!({"@odata.count": 1, "value": [{
        "results": {"nonCompliantResources": 1, "nonCompliantPolicies": 1,
                    "resourceDetails": [{"complianceState": "noncompliant", "count": 1}]},
        "policyAssignments": [{
            "policyAssignmentId": format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/policyAssignments/pa"),
            "policySetDefinitionId": "/providers/Microsoft.Authorization/policySetDefinitions/3937f550-eedd-4639-9c5e-294358be442e",
            "results": {"nonCompliantResources": 1},
            "policyDefinitions": [],
            "policyGroups": [{"policyGroupName": "UK_NCSC_CSP_1", "results": {"nonCompliantResources": 1,
                "policyDetails": [{"complianceState": "NonCompliant", "count": 1}]}}]
        }]
    }]}))]);
    let s = mock
        .client()
        .summarize_policy_states(&format!("/subscriptions/{SUB}"), None)
        .await
        .unwrap();
    assert_eq!(s.results.non_compliant_resources, Some(1));
    let g = &s.policy_assignments[0].policy_groups[0];
    assert_eq!(g.policy_group_name, "UK_NCSC_CSP_1");
    assert_eq!(g.results.policy_details[0].count, 1);
    assert_eq!(
        mock.lines(),
        [format!("POST /subscriptions/{SUB}{STATES}/summarize")]
    );
}

#[tokio::test]
async fn trigger_evaluation_is_posted_once_then_its_location_polled_to_the_end() {
    let mock = Mock::start().await;
    let op = format!(
        "{}/subscriptions/{SUB}/providers/Microsoft.PolicyInsights/asyncOperationResults/op1?api-version=2019-10-01",
        mock.url
    );
    mock.script([
        Reply::empty(202)
            .header("location", &op)
            .header("retry-after", "0"),
        Reply::empty(202)
            .header("location", &op)
            .header("retry-after", "0"),
        Reply::empty(200),
    ]);
    mock.client()
        .trigger_policy_evaluation(SUB, None)
        .await
        .unwrap();
    assert_eq!(
        mock.lines(),
        [
            format!("POST /subscriptions/{SUB}{STATES}/triggerEvaluation"),
            format!("GET /subscriptions/{SUB}/providers/Microsoft.PolicyInsights/asyncOperationResults/op1"),
            format!("GET /subscriptions/{SUB}/providers/Microsoft.PolicyInsights/asyncOperationResults/op1"),
        ]
    );

    let mock = Mock::start().await;
    let op = format!(
        "{}/subscriptions/{SUB}/providers/Microsoft.PolicyInsights/asyncOperationResults/op2?api-version=2019-10-01",
        mock.url
    );
    mock.script([
        Reply::empty(202).header("location", &op),
        Reply::json(200, json!({"status": "Failed", "error": {"code": "EvaluationFailed", "message": "scan failed"}})),
    ]);
    let e = mock
        .client()
        .trigger_policy_evaluation(SUB, Some("rg-x"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::OperationFailed { .. }), "{e:?}");
    assert_eq!(e.code(), Some("EvaluationFailed"));
}
