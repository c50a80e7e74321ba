#!/usr/bin/env bash
# Installs the dashboard's front-end libraries from the npm registry (pinned by the lock file)
# and copies the files it serves into the package, so the dashboard works on a LAN without
# internet. Skipped when the files are current (scripts/frontend_assets.py keeps a stamp); the
# wheel's build hook runs the same code.
set -euo pipefail
exec python3 "$(dirname "$0")/frontend_assets.py"
