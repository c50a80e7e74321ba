#!/usr/bin/env bash
# Installs the real services the test-suite starts (Mosquitto, PostgreSQL, Chromium and a font
# for its screenshots), systemd-analyze for the unit checks, plus npm for the front-end assets,
# from Debian's packages, when they are missing. The tests start their own instances on
# loopback in temporary directories; nothing is started here, so a developer's machine is left
# as it was. Debian 12 (bookworm), as root or with sudo.
#
#   install-system-deps.sh        everything `make test` needs
#   install-system-deps.sh demo   only what `make demo` needs (npm, python3-venv)
#   install-system-deps.sh bench  what `make bench-api` needs besides (wrk, /usr/bin/time)
set -euo pipefail

need=()
# `python3 -m venv` (make install) needs ensurepip, which Debian ships separately.
python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ "${1:-test}" = "test" ]; then
  command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  # Without a font, Chromium draws every letter in screenshots as an empty box.
  dpkg -s fonts-dejavu-core >/dev/null 2>&1 || dpkg -s fonts-liberation >/dev/null 2>&1 \
    || need+=(fonts-dejavu-core)
  # setpriv (util-linux) stops the test services when a test run is killed outright.
  command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
  # systemd-analyze checks the systemd units in packaging/ (offline; nothing is started).
  command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
fi

if [ "${1:-test}" = "bench" ]; then
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
  # bench/reader_import.py (the year bench-api reads) times its commands with /usr/bin/time -v
  [ -x /usr/bin/time ] || need+=(time)
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
echo "installing system packages: ${need[*]}"

if [[ " ${need[*]} " == *" postgresql "* ]]; then
  # The tests run initdb themselves; the package's default cluster would be a server left
  # running on port 5432 for nothing. (createcluster.conf includes this directory.)
  $SUDO mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" \
    | $SUDO tee /etc/postgresql-common/createcluster.d/hanport-no-main-cluster.conf >/dev/null
fi

$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${need[@]}" >/dev/null
