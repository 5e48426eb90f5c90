"""Microsoft's `azure-mgmt-policyinsights` SDK querying the local cloud's policy states (issue 15 point 4).

Run by `tests/cloud.rs` (sdk::microsofts_python_sdk_works_against_the_local_cloud) with the environment
described in test_sdk.py. A policy definition and assignment are created through Microsoft's generic resource
API, a deployment is made, and the compliance states are read back with the Policy Insights SDK: nothing is
mocked.
"""

import os
import uuid

import pytest
from azure.identity import ClientSecretCredential
from azure.mgmt.policyinsights import PolicyInsightsClient
from azure.mgmt.policyinsights.models import QueryOptions
from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.resources.models import GenericResource

URL = os.environ["TRUSTPRINT_CLOUD_URL"]
TENANT = os.environ["TRUSTPRINT_CLOUD_TENANT"]
SUB = os.environ["TRUSTPRINT_SUBSCRIPTION"]
SCOPES = ["https://management.azure.com/.default"]
RG_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
POLICY_API = "2023-04-01"
MG_API = "2021-04-01"
POLL = {"polling_interval": 0}


@pytest.fixture(scope="module")
def credential():
    return ClientSecretCredential(
        TENANT, "trustprint-sdk-test", "not-a-real-secret", authority=URL, disable_instance_discovery=True
    )


@pytest.fixture(scope="module")
def resources(credential):
    return ResourceManagementClient(credential, SUB, base_url=URL, credential_scopes=SCOPES)


@pytest.fixture(scope="module")
def insights(credential):
    return PolicyInsightsClient(credential, SUB, base_url=URL, credential_scopes=SCOPES)


@pytest.fixture(scope="module")
def evaluated(credential, resources):
    """A group with an audit assignment (storage accounts must use TLS 1.2) and a deployment of two accounts,
    one compliant and one not, in a subscription placed in management group mg-trusts. Returns (group name,
    assignment id)."""
    rg = "rg-insights-" + uuid.uuid4().hex[:6]
    # Microsoft.Management through the generic resource API: the group (a long-running PUT), then the
    # subscription placed in it.
    mg = "/providers/Microsoft.Management/managementGroups/mg-trusts"
    group = resources.resources.begin_create_or_update_by_id(
        mg, GenericResource(properties={"displayName": "Trusts"}), api_version=MG_API, **POLL
    ).result()
    assert group.properties["details"]["parent"]["name"] == TENANT
    resources.resources.begin_create_or_update_by_id(
        f"{mg}/subscriptions/{SUB}", GenericResource(), api_version=MG_API, **POLL
    ).result()
    resources.resource_groups.create_or_update(rg, {"location": "uksouth"})
    definition = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/policyDefinitions/tls-audit-{rg}"
    resources.resources.begin_create_or_update_by_id(
        definition,
        GenericResource(
            properties={
                "displayName": "Storage accounts use TLS 1.2",
                "mode": "Indexed",
                "policyRule": {
                    "if": {
                        "allOf": [
                            {"field": "type", "equals": "Microsoft.Storage/storageAccounts"},
                            {"field": "Microsoft.Storage/storageAccounts/minimumTlsVersion", "notEquals": "TLS1_2"},
                        ]
                    },
                    "then": {"effect": "audit"},
                },
            }
        ),
        api_version=POLICY_API,
        **POLL,
    ).result()
    assignment = f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Authorization/policyAssignments/tls"
    resources.resources.begin_create_or_update_by_id(
        assignment, GenericResource(properties={"policyDefinitionId": definition}), api_version=POLICY_API, **POLL
    ).result()
    accounts = [("stgood" + rg[-6:], "TLS1_2"), ("stweak" + rg[-6:], "TLS1_0")]
    template = {
        "$schema": RG_SCHEMA,
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.Storage/storageAccounts",
                "apiVersion": "2023-05-01",
                "name": name,
                "location": "uksouth",
                "sku": {"name": "Standard_LRS"},
                "kind": "StorageV2",
                "properties": {"minimumTlsVersion": tls},
            }
            for name, tls in accounts
        ],
    }
    deployments = DeploymentsMgmtClient(credential, SUB, base_url=URL, credential_scopes=SCOPES)
    result = deployments.deployments.begin_create_or_update(
        rg, "accounts", {"properties": {"mode": "Incremental", "template": template}}, **POLL
    ).result()
    assert result.properties.provisioning_state == "Succeeded"
    return rg, assignment


def test_states_after_a_deployment_are_queried_with_filters(insights, evaluated):
    rg, assignment = evaluated
    states = list(insights.policy_states.list_query_results_for_resource_group("latest", SUB, rg))
    assert len(states) == 2
    by_account = {s.resource_id.rsplit("/", 1)[1]: s for s in states}
    weak = by_account["stweak" + rg[-6:]]
    assert weak.compliance_state == "NonCompliant"
    assert weak.is_compliant is False
    assert weak.policy_assignment_id.lower() == assignment.lower()
    assert weak.policy_definition_action == "audit"
    assert weak.resource_type == "Microsoft.Storage/storageAccounts"
    assert weak.resource_group == rg
    assert by_account["stgood" + rg[-6:]].compliance_state == "Compliant"

    noncompliant = list(
        insights.policy_states.list_query_results_for_subscription(
            "latest", SUB, QueryOptions(filter=f"complianceState eq 'NonCompliant' and resourceGroup eq '{rg}'")
        )
    )
    assert [s.resource_id.rsplit("/", 1)[1] for s in noncompliant] == ["stweak" + rg[-6:]]

    at_assignment = list(
        insights.policy_states.list_query_results_for_resource_group_level_policy_assignment(
            "latest", SUB, rg, "tls", QueryOptions(top=1, select="resourceId,complianceState")
        )
    )
    assert len(at_assignment) == 1
    assert at_assignment[0].compliance_state in ("Compliant", "NonCompliant")


def test_summaries_count_non_compliant_resources_at_each_scope(insights, evaluated):
    rg, assignment = evaluated
    for summary in (
        insights.policy_states.summarize_for_resource_group("latest", SUB, rg),
        insights.policy_states.summarize_for_management_group("latest", "mg-trusts"),
    ):
        assert summary.odata_count == 1
        result = summary.value[0]
        mine = [a for a in result.policy_assignments if a.policy_assignment_id.lower() == assignment.lower()]
        assert len(mine) == 1
        assert mine[0].results.non_compliant_resources == 1
        assert mine[0].results.non_compliant_policies == 1
        assert mine[0].policy_definitions[0].effect == "audit"
        details = {d.compliance_state: d.count for d in mine[0].results.resource_details}
        assert details == {"Compliant": 1, "NonCompliant": 1}


def test_an_on_demand_scan_re_evaluates_after_a_change(insights, resources, evaluated):
    rg, _ = evaluated
    weak = f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/stweak{rg[-6:]}"
    resources.resources.begin_update_by_id(
        weak, GenericResource(properties={"minimumTlsVersion": "TLS1_2"}), api_version="2023-05-01", **POLL
    ).result()
    insights.policy_states.begin_trigger_resource_group_evaluation(SUB, rg, **POLL).result()
    states = list(
        insights.policy_states.list_query_results_for_resource_group(
            "latest", SUB, rg, QueryOptions(filter="complianceState eq 'NonCompliant'")
        )
    )
    assert states == []
