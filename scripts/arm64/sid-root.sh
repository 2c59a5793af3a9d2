#!/usr/bin/env bash
# The cross compiler: a Debian sid root (debootstrap) with sid's `swiftlang`, under .build/arm64/sid.
# Reused when it is there (a stamp file marks a finished root); prints the compiler's version and refuses
# anything but 6.2.x. Usage: scripts/arm64/sid-root.sh  (as root; MIRROR overrides the Debian mirror).
set -euo pipefail
cd "$(dirname "$0")/../.."
mirror=${MIRROR:-http://deb.debian.org/debian}
top=.build/arm64
root=$top/sid
stamp=$root/.panicbridge-ready
mkdir -p "$top"
if [ ! -f "$stamp" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "sid-root: debootstrap needs root" >&2; exit 1; }
    command -v debootstrap >/dev/null || scripts/ensure-packages.sh debootstrap
    started=$(date +%s)
    if findmnt -rn -o TARGET | grep -q "^$PWD/$root"; then
        echo "sid-root: something is mounted under $root; not removing it" >&2
        exit 1
    fi
    rm -rf "$root"
    echo "== debootstrap sid into $root"
    debootstrap --variant=minbase sid "$root" "$mirror"
    # The sid Release file served here can be past its Valid-Until: this root's apt ignores that.
    echo 'Acquire::Check-Valid-Until "false";' > "$root/etc/apt/apt.conf.d/99panicbridge-no-valid-until"
    echo 'APT::Install-Recommends "false";' > "$root/etc/apt/apt.conf.d/99panicbridge-no-recommends"
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    touch "$stamp"
    echo "== sid root made in $(($(date +%s) - started)) s"
fi
# swiftlang; libc6-dev for the manifest (Package.swift is compiled and run for the host, inside the root); git
# for SwiftPM's checkouts.
packages=(swiftlang libc6-dev git ca-certificates)
missing=()
for package in "${packages[@]}"; do
    chroot "$root" dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== apt-get install ${missing[*]} (sid)"
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
version=$(scripts/arm64/in-sid.sh swift --version 2>&1 | head -n 1)
echo "arm64 toolchain: $version (sid swiftlang $(chroot "$root" dpkg-query -W -f='${Version}' swiftlang))"
case "$version" in
    *"Swift version 6.2."*) ;;
    *) echo "sid-root: sid's swiftlang says '$version'; the arm64 build needs Swift 6.2.x (docs/packaging.md)" >&2
       exit 1 ;;
esac
