#!/usr/bin/env bash
# Runs a command in the sid root (.build/arm64/sid) with the work tree at /src and /proc mounted (the sid swift
# finds its libraries through /proc/self/exe). The mounts are made in a private mount namespace (unshare), so
# they vanish when the command ends, however it ends: nothing is left mounted under .build/.
# The host's git url.*.insteadOf rules (a local package mirror, if any) are handed to git inside.
# Usage: scripts/arm64/in-sid.sh COMMAND [ARG...]   (as root; cwd inside is /src)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD/.build/arm64/sid
[ -f "$root/.panicbridge-ready" ] || { echo "in-sid: no sid root; run make arm64-toolchain" >&2; exit 1; }
gitenv=()
count=0
while read -r key value; do
    [ -n "$key" ] || continue
    gitenv+=("GIT_CONFIG_KEY_$count=$key" "GIT_CONFIG_VALUE_$count=$value")
    count=$((count + 1))
done < <(git config --get-regexp '^url\..*\.insteadof$' 2>/dev/null || true)
gitenv+=("GIT_CONFIG_COUNT=$count")
mirror=$(git config --get-regexp '^url\..*\.insteadof$' 2>/dev/null | sed -n 's/^url\.\(\/[^ ]*\)\.insteadof .*/\1/p' |
    head -n 1)
exec unshare --mount --propagation private bash -c '
    set -e
    root=$1 src=$2 mirror=$3
    shift 3
    mount -t proc proc "$root/proc"
    mkdir -p "$root/src"
    mount --bind "$src" "$root/src"
    if [ -n "$mirror" ] && [ -d "$mirror" ]; then
        mkdir -p "$root$mirror"
        mount --bind "$mirror" "$root$mirror"
    fi
    exec chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
        ${SWIFT_DETERMINISTIC_HASHING:+SWIFT_DETERMINISTIC_HASHING=$SWIFT_DETERMINISTIC_HASHING} /bin/sh -c "cd /src && exec \"\$@\"" sh "$@"
' in-sid "$root" "$PWD" "${mirror%/}" env "${gitenv[@]}" "$@"
