#!/usr/bin/env bash
# Installs the dashboard's front-end libraries from the npm registry (pinned by the lock file)
# and copies the files it serves into the package, so the dashboard works on a LAN without internet.
set -euo pipefail
cd "$(dirname "$0")/../frontend" 2>/dev/null || exit 0
[ -f package-lock.json ] || exit 0
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund --silent
fi
if [ -f copy-assets.mjs ]; then node copy-assets.mjs; fi
