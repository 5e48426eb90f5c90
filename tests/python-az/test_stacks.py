"""Deployment stacks in the local cloud, driven by Microsoft's own clients (issue 17, point 1).

Run by `tests/cloud.rs` (tls_and_sdk::the_azure_cli_works_against_the_local_cloud) with the `.venv-az` virtual
environment, which holds the pinned `azure-cli` and, through it, Microsoft's `azure-mgmt-resource-deploymentstacks`
SDK (api-version 2025-07-01). The environment is the one `test_az_cli.py` describes. Nothing is mocked: the
SDK's `DeploymentStacksClient` and the real `az stack group` command line talk to the local cloud over TLS. The
only helper is the token credential below (the venv has no `azure-identity`): it asks the local cloud's token
endpoint, as `ClientSecretCredential` would.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resource.deploymentstacks import DeploymentStacksClient
from azure.mgmt.resource.deploymentstacks import models as m

URL = os.environ["TRUSTPRINT_CLOUD_URL"]
TENANT = os.environ["TRUSTPRINT_CLOUD_TENANT"]
SUB = os.environ["TRUSTPRINT_SUBSCRIPTION"]
AZ = str(Path(sys.executable).parent / "az")
RG_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
POLL = {"polling_interval": 0}


class LocalCredential:
    """A client-credentials token from the local cloud's token endpoint."""

    def __init__(self, client_id):
        self.client_id = client_id

    def get_token(self, *scopes, **kwargs):
        r = requests.post(
            f"{URL}/{TENANT}/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": "x"},
            timeout=30,
        )
        r.raise_for_status()
        body = r.json()
        return AccessToken(body["access_token"], int(time.time()) + int(body["expires_in"]))


def storage_template(names):
    return {
        "$schema": RG_SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": {"names": {"type": "array"}},
        "resources": [
            {
                "type": "Microsoft.Storage/storageAccounts",
                "apiVersion": "2023-05-01",
                "name": "[parameters('names')[copyIndex()]]",
                "copy": {"name": "st", "count": "[length(parameters('names'))]"},
                "location": "[resourceGroup().location]",
                "sku": {"name": "Standard_LRS"},
                "kind": "StorageV2",
                "properties": {"minimumTlsVersion": "TLS1_2"},
            }
        ],
        "outputs": {"count": {"type": "int", "value": "[length(parameters('names'))]"}},
    }


def group(token_client, name):
    token = token_client.get_token().token
    r = requests.put(
        f"{URL}/subscriptions/{SUB}/resourcegroups/{name}?api-version=2021-04-01",
        json={"location": "uksouth"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code in (200, 201), r.text


def stack(names, resources_action, deny_mode="none", excluded=None):
    return m.DeploymentStack(
        properties=m.DeploymentStackProperties(
            template=storage_template(names),
            parameters={"names": m.DeploymentParameter(value=names)},
            action_on_unmanage=m.ActionOnUnmanage(resources=resources_action, resource_groups="detach"),
            deny_settings=m.DenySettings(mode=deny_mode, excluded_principals=excluded),
            description="trust platform",
        )
    )


def test_the_sdk_creates_updates_validates_exports_and_deletes_a_stack():
    credential = LocalCredential("trustprint-stacks-sdk")
    client = DeploymentStacksClient(credential, SUB, base_url=URL, credential_scopes=["https://management.azure.com/.default"])
    group(credential, "rg-sdk-stack")

    created = client.deployment_stacks.begin_create_or_update_at_resource_group(
        "rg-sdk-stack", "platform", stack(["stsdka", "stsdkb"], "delete", "denyDelete", ["trustprint-stacks-sdk"]), **POLL
    ).result()
    assert created.properties.provisioning_state == "succeeded", created
    assert sorted(r.id.rsplit("/", 1)[1] for r in created.properties.resources) == ["stsdka", "stsdkb"]
    assert {r.deny_status for r in created.properties.resources} == {"denyDelete"}
    assert created.properties.outputs["count"]["value"] == 2

    # Dropping a resource from the template deletes it (actionOnUnmanage.resources = delete).
    updated = client.deployment_stacks.begin_create_or_update_at_resource_group(
        "rg-sdk-stack", "platform", stack(["stsdka"], "delete", "denyDelete", ["trustprint-stacks-sdk"]), **POLL
    ).result()
    assert [r.id.rsplit("/", 1)[1] for r in updated.properties.deleted_resources] == ["stsdkb"]
    assert [r.id.rsplit("/", 1)[1] for r in updated.properties.resources] == ["stsdka"]

    listed = list(client.deployment_stacks.list_at_resource_group("rg-sdk-stack"))
    assert [s.name for s in listed] == ["platform"]
    exported = client.deployment_stacks.export_template_at_resource_group("rg-sdk-stack", "platform")
    assert exported.template["resources"][0]["type"] == "Microsoft.Storage/storageAccounts"

    validated = client.deployment_stacks.begin_validate_stack_at_resource_group(
        "rg-sdk-stack", "check", stack(["stsdkc"], "detach"), **POLL
    ).result()
    assert [r.id.rsplit("/", 1)[1] for r in validated.properties.validated_resources] == ["stsdkc"]

    # Azure's limit on excluded principals is refused before anything runs.
    with pytest.raises(HttpResponseError) as refused:
        client.deployment_stacks.begin_create_or_update_at_resource_group(
            "rg-sdk-stack", "too-many", stack(["stsdkd"], "detach", "denyDelete", [f"p{i}" for i in range(6)]), **POLL
        ).result()
    assert refused.value.error.code == "DeploymentStackInvalidDeploymentStackDefinition"

    client.deployment_stacks.begin_delete_at_resource_group(
        "rg-sdk-stack", "platform", unmanage_action_resources="delete", **POLL
    ).result()
    with pytest.raises(HttpResponseError) as gone:
        client.deployment_stacks.get_at_resource_group("rg-sdk-stack", "platform")
    assert gone.value.status_code == 404


def az(*args):
    """Run `az ARGS -o json` and return its parsed output; a failure shows az's own error."""
    done = subprocess.run([AZ, *args, "-o", "json"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"az {' '.join(args)} failed ({done.returncode}):\n{done.stderr}"
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_az_stack_group_creates_shows_lists_and_deletes(tmp_path):
    group(LocalCredential("setup"), "rg-az-stack")
    clouds = [c["name"] for c in az("cloud", "list")]
    if "TrustprintLocal" not in clouds:
        az("cloud", "register", "--name", "TrustprintLocal", "--endpoint-resource-manager", f"{URL}/")
    az("cloud", "set", "--name", "TrustprintLocal")
    az("login", "--service-principal", "--username", "trustprint-az", "--password", "not-a-real-secret", "--tenant", TENANT)

    template = tmp_path / "estate.json"
    template.write_text(json.dumps(storage_template(["stazstacka", "stazstackb"])))
    parameters = tmp_path / "estate.parameters.json"
    parameters.write_text(json.dumps({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"names": {"value": ["stazstacka", "stazstackb"]}},
    }))
    created = az(
        "stack", "group", "create", "--name", "estate", "--resource-group", "rg-az-stack",
        "--template-file", str(template), "--parameters", f"@{parameters}",
        "--deny-settings-mode", "denyWriteAndDelete", "--deny-settings-excluded-principals", "trustprint-az",
        "--action-on-unmanage", "deleteResources", "--yes", "--subscription", SUB,
    )
    assert created["provisioningState"] == "succeeded", created
    assert sorted(r["id"].rsplit("/", 1)[1] for r in created["resources"]) == ["stazstacka", "stazstackb"]
    assert created["denySettings"]["mode"] == "denyWriteAndDelete"

    shown = az("stack", "group", "show", "--name", "estate", "--resource-group", "rg-az-stack", "--subscription", SUB)
    assert shown["id"] == created["id"]
    listed = az("stack", "group", "list", "--resource-group", "rg-az-stack", "--subscription", SUB)
    assert [s["name"] for s in listed] == ["estate"]

    az(
        "stack", "group", "delete", "--name", "estate", "--resource-group", "rg-az-stack",
        "--action-on-unmanage", "deleteResources", "--yes", "--subscription", SUB,
    )
    token = LocalCredential("setup").get_token().token
    left = requests.get(
        f"{URL}/subscriptions/{SUB}/resourceGroups/rg-az-stack/resources?api-version=2021-04-01",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert left.json()["value"] == [], left.text
