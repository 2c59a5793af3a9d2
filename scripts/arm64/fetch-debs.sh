#!/usr/bin/env bash
# Downloads Debian arm64 .debs with apt and a private state directory (the host's apt and dpkg are untouched): the
# one way the arm64 sysroots (scripts/arm64/sysroot.sh) and the rig's arm64 kernel (scripts/hil/arm64-kernel.sh) get
# packages from the archive. The .debs land in STATE/debs and are kept (and reused) until the wanted list changes.
# Usage: scripts/arm64/fetch-debs.sh STATE "MIRROR SUITE COMPONENT"... -- PACKAGE[=VERSION]...
set -euo pipefail
state=$(realpath -m "${1:?usage: scripts/arm64/fetch-debs.sh STATE SOURCE... -- PACKAGE...}")
shift
sources=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
    sources+=("deb [arch=arm64] $1")
    shift
done
[ "${1:-}" = -- ] && shift
[ ${#sources[@]} -gt 0 ] && [ $# -gt 0 ] || { echo "fetch-debs: no source or no package given" >&2; exit 2; }
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/debs"
touch "$state/status"
printf '%s\n' "${sources[@]}" > "$state/sources.list"
apt_opts=(-o Dir::Etc::SourceList="$state/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$state/lists" -o Dir::State::status="$state/status" -o Dir::Cache="$state/cache"
    -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Acquire::Check-Valid-Until=false
    -o Acquire::Languages=none -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
wanted="${sources[*]} $*"
[ "$(cat "$state/debs/.wanted" 2>/dev/null)" = "$wanted" ] && exit 0
echo "== apt-get update (arm64: ${sources[*]#deb \[arch=arm64\] })"
apt-get "${apt_opts[@]}" update -qq
echo "== apt-get download: $*"
(cd "$state/debs" && rm -f ./*.deb .wanted && apt-get "${apt_opts[@]}" download "$@")
echo "$wanted" > "$state/debs/.wanted"
