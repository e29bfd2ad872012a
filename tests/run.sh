#!/usr/bin/env bash
# The test command. On a fresh Debian 12 machine (as root, or with sudo) it installs what the
# suite needs: Dovecot (the real IMAP/LMTP server the tests run), systemd (for `systemd-analyze
# verify` of the unit files), Chromium (the headless browser the report's HTML is rendered in)
# and Python's venv support, then prepares .venv and runs pytest. Extra arguments go to pytest,
# e.g. `bash tests/run.sh -k imap`.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
if [ ! -x /usr/sbin/dovecot ] || [ ! -x /usr/lib/dovecot/imap ] || [ ! -x /usr/lib/dovecot/lmtp ]; then
    packages+=(dovecot-imapd dovecot-lmtpd)
fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
    packages+=(systemd)  # systemd-analyze verify checks the units of contrib/systemd
fi
if ! command -v chromium >/dev/null 2>&1; then
    packages+=(chromium)
fi
if [ ! -x .venv/bin/python ] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    packages+=(python3 python3-venv)
fi
if [ "${#packages[@]}" -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    echo "Installing ${packages[*]} for the test suite..." >&2
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${packages[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet -e '.[test]'

exec .venv/bin/python -m pytest -q "$@"
