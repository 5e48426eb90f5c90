"""Microsoft's own Python SDK against the local cloud.

Run by `tests/cloud.rs` (sdk::microsofts_python_sdk_works_against_the_local_cloud), which starts the local cloud
with TLS and sets TRUSTPRINT_CLOUD_URL, TRUSTPRINT_CLOUD_TENANT, TRUSTPRINT_SUBSCRIPTION and REQUESTS_CA_BUNDLE
(the local CA). Nothing here is mocked: the packages are Microsoft's `azure-identity`, `azure-mgmt-resource`
and `azure-mgmt-resource-deployments`.
"""

import os
import uuid

import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from azure.mgmt.resource.resources import ResourceManagementClient

URL = os.environ["TRUSTPRINT_CLOUD_URL"]
TENANT = os.environ["TRUSTPRINT_CLOUD_TENANT"]
SUB = os.environ["TRUSTPRINT_SUBSCRIPTION"]
SCOPES = ["https://management.azure.com/.default"]
RG_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
SUB_SCHEMA = "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#"
POLL = {"polling_interval": 0}


@pytest.fixture(scope="module")
def credential():
    # The local cloud is its own authority: MSAL reads its OpenID configuration and token endpoint.
    return ClientSecretCredential(
        TENANT, "trustprint-sdk-test", "not-a-real-secret", authority=URL, disable_instance_discovery=True
    )


@pytest.fixture(scope="module")
def resources(credential):
    return ResourceManagementClient(credential, SUB, base_url=URL, credential_scopes=SCOPES)


@pytest.fixture(scope="module")
def deployments(credential):
    return DeploymentsMgmtClient(credential, SUB, base_url=URL, credential_scopes=SCOPES)


def storage_template(names, tls="TLS1_2"):
    return {
        "$schema": RG_SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": {"names": {"type": "array"}, "tls": {"type": "string", "defaultValue": tls}},
        "resources": [
            {
                "type": "Microsoft.Storage/storageAccounts",
                "apiVersion": "2023-05-01",
                "name": "[parameters('names')[copyIndex()]]",
                "copy": {"name": "st", "count": "[length(parameters('names'))]"},
                "location": "[resourceGroup().location]",
                "sku": {"name": "Standard_LRS"},
                "kind": "StorageV2",
                "properties": {"minimumTlsVersion": "[parameters('tls')]"},
            }
        ],
        "outputs": {"first": {"type": "string", "value": "[parameters('names')[0]]"}},
    }


def test_resource_group_lifecycle(resources):
    name = "rg-sdk-" + uuid.uuid4().hex[:6]
    rg = resources.resource_groups.create_or_update(name, {"location": "uksouth", "tags": {"owner": "sdk"}})
    assert rg.id == f"/subscriptions/{SUB}/resourceGroups/{name}"
    assert rg.properties.provisioning_state == "Succeeded"
    assert resources.resource_groups.check_existence(name)
    assert resources.resource_groups.get(name).tags == {"owner": "sdk"}
    names = [g.name for g in resources.resource_groups.list(filter="tagName eq 'owner' and tagValue eq 'sdk'")]
    assert name in names
    resources.resource_groups.begin_delete(name, **POLL).result()
    assert not resources.resource_groups.check_existence(name)


def test_deploy_at_both_scopes_read_outputs_what_if_and_delete(resources, deployments):
    rg = "rg-sdk-dep-" + uuid.uuid4().hex[:6]
    sub_template = {
        "$schema": SUB_SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": {"rg": {"type": "string"}},
        "resources": [
            {"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2021-04-01",
             "name": "[parameters('rg')]", "location": "uksouth"}
        ],
        "outputs": {"rgId": {"type": "string",
                             "value": "[concat(subscription().id, '/resourceGroups/', parameters('rg'))]"}},
    }
    sub_dep = deployments.deployments.begin_create_or_update_at_subscription_scope(
        "sdk-landing",
        {"location": "uksouth",
         "properties": {"mode": "Incremental", "template": sub_template, "parameters": {"rg": {"value": rg}}}},
        **POLL,
    ).result()
    assert sub_dep.properties.provisioning_state == "Succeeded"
    assert sub_dep.properties.outputs["rgId"]["value"] == f"/subscriptions/{SUB}/resourceGroups/{rg}", sub_dep.properties.outputs
    assert resources.resource_groups.check_existence(rg)

    body = {"properties": {"mode": "Incremental", "template": storage_template(["stsdka", "stsdkb"]),
                           "parameters": {"names": {"value": ["stsdka", "stsdkb"]}}}}
    dep = deployments.deployments.begin_create_or_update(rg, "sdk-storage", body, **POLL).result()
    assert dep.properties.provisioning_state == "Succeeded"
    assert dep.properties.outputs["first"]["value"] == "stsdka"
    got = deployments.deployments.get(rg, "sdk-storage")
    assert got.properties.outputs["first"]["value"] == "stsdka"
    ops = list(deployments.deployment_operations.list(rg, "sdk-storage"))
    assert ops[-1].properties.provisioning_operation == "EvaluateDeploymentOutput"

    what_if = deployments.deployments.begin_what_if(
        rg,
        "sdk-storage",
        {"properties": {"mode": "Complete", "template": storage_template(["stsdka", "stsdkc"], "TLS1_0"),
                        "parameters": {"names": {"value": ["stsdka", "stsdkc"]}}}},
        **POLL,
    ).result()
    assert what_if.status == "Succeeded"
    by_name = {c.resource_id.rsplit("/", 1)[-1]: c for c in what_if.changes}
    assert by_name["stsdka"].change_type == "Modify"
    assert by_name["stsdka"].delta[0].path == "properties.minimumTlsVersion"
    assert by_name["stsdkb"].change_type == "Delete"
    assert by_name["stsdkc"].change_type == "Create"

    storage = resources.resources.get_by_id(
        f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/stsdka", api_version="2023-05-01"
    )
    assert storage.properties["minimumTlsVersion"] == "TLS1_2"

    deployments.deployments.begin_delete(rg, "sdk-storage", **POLL).result()
    with pytest.raises(HttpResponseError) as err:
        deployments.deployments.get(rg, "sdk-storage")
    assert err.value.error.code == "DeploymentNotFound"
    resources.resource_groups.begin_delete(rg, **POLL).result()
    assert not resources.resource_groups.check_existence(rg)
