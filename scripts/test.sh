#!/usr/bin/env bash
# The test command of README.md: installs what the tests need, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run check
npm test
npm run test:sanitizers
