"""The Azure CLI against the local cloud, as an operator would point it there.

Run by `tests/cloud.rs` (tls_and_sdk::the_azure_cli_works_against_the_local_cloud) with the `.venv-az` virtual
environment (`.ci/run` creates it with the pinned `azure-cli`). The test starts the local cloud with TLS and
sets TRUSTPRINT_CLOUD_URL, TRUSTPRINT_CLOUD_TENANT, TRUSTPRINT_SUBSCRIPTION, REQUESTS_CA_BUNDLE (the local CA)
and AZURE_CONFIG_DIR (a temporary folder, so the user's own `az` profile is untouched). Nothing is mocked: each
step runs the real `az` command line.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

URL = os.environ["TRUSTPRINT_CLOUD_URL"]
TENANT = os.environ["TRUSTPRINT_CLOUD_TENANT"]
SUB = os.environ["TRUSTPRINT_SUBSCRIPTION"]
AZ = str(Path(sys.executable).parent / "az")
TEMPLATE = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {"name": {"type": "string"}},
    "resources": [
        {
            "type": "Microsoft.Storage/storageAccounts",
            "apiVersion": "2023-05-01",
            "name": "[parameters('name')]",
            "location": "[resourceGroup().location]",
            "sku": {"name": "Standard_LRS"},
            "kind": "StorageV2",
            "properties": {"minimumTlsVersion": "TLS1_2"},
        }
    ],
    "outputs": {
        "id": {"type": "string", "value": "[resourceId('Microsoft.Storage/storageAccounts', parameters('name'))]"}
    },
}


def az(*args):
    """Run `az ARGS -o json` and return its parsed output; a failure shows az's own error."""
    done = subprocess.run([AZ, *args, "-o", "json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"az {' '.join(args)} failed ({done.returncode}):\n{done.stderr}"
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_register_login_create_a_group_and_deploy(tmp_path):
    # The subscription exists in the local cloud once something has used it; `az login` lists what exists.
    token = requests.post(
        f"{URL}/{TENANT}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": "setup", "client_secret": "setup"},
        timeout=30,
    ).json()["access_token"]
    r = requests.get(
        f"{URL}/subscriptions/{SUB}?api-version=2022-12-01",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text

    # The CLI reads the other endpoints from the local cloud's /metadata/endpoints.
    az("cloud", "register", "--name", "TrustprintLocal", "--endpoint-resource-manager", f"{URL}/")
    cloud = az("cloud", "show", "--name", "TrustprintLocal")
    assert cloud["endpoints"]["activeDirectory"] == f"{URL}/"
    az("cloud", "set", "--name", "TrustprintLocal")
    accounts = az(
        "login", "--service-principal", "--username", "trustprint-az", "--password", "not-a-real-secret",
        "--tenant", TENANT,
    )
    assert [a["id"] for a in accounts] == [SUB]
    assert accounts[0]["user"] == {"name": "trustprint-az", "type": "servicePrincipal"}

    group = az("group", "create", "--name", "rg-az-cli", "--location", "uksouth", "--subscription", SUB)
    assert group["id"] == f"/subscriptions/{SUB}/resourceGroups/rg-az-cli"
    assert group["properties"]["provisioningState"] == "Succeeded"

    template = tmp_path / "storage.json"
    template.write_text(json.dumps(TEMPLATE, indent=2))
    deployment = az(
        "deployment", "group", "create", "--resource-group", "rg-az-cli", "--name", "az-cli-storage",
        "--template-file", str(template), "--parameters", "name=stazcli001", "--subscription", SUB,
    )
    assert deployment["properties"]["provisioningState"] == "Succeeded"
    assert deployment["properties"]["outputs"]["id"]["value"] == (
        f"/subscriptions/{SUB}/resourceGroups/rg-az-cli/providers/Microsoft.Storage/storageAccounts/stazcli001"
    )
    # The local cloud has no provider registry to look api-versions up in: name one.
    shown = az(
        "resource", "show", "--ids", deployment["properties"]["outputs"]["id"]["value"], "--api-version", "2023-05-01"
    )
    assert shown["properties"]["minimumTlsVersion"] == "TLS1_2"
