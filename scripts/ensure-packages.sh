#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, when run as root; otherwise prints the exact
# apt-get line and stops. Usage: scripts/ensure-packages.sh PACKAGE...
set -euo pipefail
missing=()
for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "Missing system packages. Run as root (or with sudo):" >&2
    echo "  apt-get update && $line" >&2
    exit 1
fi
echo "Installing missing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$line
