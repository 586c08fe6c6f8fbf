#!/usr/bin/env bash
# The demo command of README.md: installs what the demo needs, then runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node packages/cli/bin/capsule.js demo "$@"
