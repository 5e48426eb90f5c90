#!/usr/bin/env bash
# Scan a folder of rendered ARM templates with checkov, skipping the checks a blueprint's manifest lists under
# scannerSkips (each with a written reason there).
#
# usage: scripts/checkov.sh DIR [CHECK_ID...]
#
# checkov runs from the repository's virtual environment at .venv/, which .ci/run creates with:
#   python3 -m venv .venv && .venv/bin/pip install checkov==3.3.30
# Exit status: 0 when no check failed, 1 when some did (checkov's own status), 127 when checkov is missing.
set -euo pipefail

CHECKOV_VERSION=3.3.30
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
checkov="${CHECKOV:-$root/.venv/bin/checkov}"

if [[ $# -lt 1 ]]; then
  echo "usage: scripts/checkov.sh DIR [CHECK_ID...]" >&2
  exit 2
fi
dir="$1"
shift

if [[ ! -x "$checkov" ]]; then
  echo "checkov is not installed at $checkov; install it with:" >&2
  echo "  python3 -m venv .venv && .venv/bin/pip install checkov==$CHECKOV_VERSION" >&2
  exit 127
fi

args=(--directory "$dir" --framework arm --quiet --compact --output cli --skip-download)
if [[ $# -gt 0 ]]; then
  skips="$(IFS=,; echo "$*")"
  args+=(--skip-check "$skips")
fi
# No telemetry or update checks: CI has no internet beyond package registries.
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false LOG_LEVEL=ERROR
exec "$checkov" "${args[@]}"
