#!/usr/bin/env bash
# Builds the Debian packages panicbridge and panicbridge-controlroom into .build/deb/ and lints them.
#
# How: the release build (`--static-swift-stdlib`, in the same .build tree as every other build) is staged
# into a package tree per package, then the Debian tools finish it: dpkg-shlibdeps works out the library
# dependencies, dpkg-gencontrol writes DEBIAN/control from debian/control, dpkg-deb builds the .deb and
# lintian checks it. Not dpkg-buildpackage: its debian/rules would have to build in a clean tree of its own (a
# second ~8 min release build) and the Swift toolchain is no Debian package it could Build-Depend on.
# The version is VERSION's; the build refuses executables whose --version says otherwise.
#
# The arm64 packages (scripts/arm64/deb.sh, `make deb-arm64`) reuse this script with a binary built elsewhere:
#   DEB_ARCH=arm64              the package architecture
#   PANICD_BIN=FILE             package this panicd instead of building; only the panicbridge package is made
#   DEB_OUT=DIR                 where the .deb goes (default .build/deb)
#   DEB_SYSROOT=DIR             the target's libraries: dpkg-shlibdeps resolves panicd's libraries there
#   DEB_SHLIBS_TREES="DIR..."   the target's runtime packages unpacked with DEBIAN/ (dpkg-deb -R): their symbols
#                               files give the Depends, so they are the TARGET's packages and versions, not the host's
#   LIBC6_SYMBOLS=FILE          the target's libc6 symbols file (for the GLIBC_ABI_* floor below)
#   EXEC_WRAPPER="CMD..."       runs the built panicd for the --version check (qemu-aarch64-static -L SYSROOT)
#   STRIP=…                     the target's strip (aarch64-linux-gnu-strip)
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
version=$(tr -d '[:space:]' < VERSION)
# DEB_ARCH and SWIFT_BUILD_FLAGS cross-build for another architecture (docs/packaging.md → arm64).
arch=${DEB_ARCH:-$(dpkg --print-architecture)}
read -r -a flags <<< "${SWIFT_BUILD_FLAGS:-}"
# The release flags every release build shares (the Makefile's SWIFT_RELEASE: `make deb` passes them).
read -r -a release <<< "${SWIFT_RELEASE:?scripts/build-deb.sh runs from make deb, which passes SWIFT_RELEASE}"
out=${DEB_OUT:-.build/deb}
started=$(date +%s)
read -r -a wrapper <<< "${EXEC_WRAPPER:-}"
shlibs_trees=()
for tree in ${DEB_SHLIBS_TREES:-}; do shlibs_trees+=("-S$tree"); done
shlibs_dirs=()
if [ -n "${DEB_SYSROOT:-}" ]; then
    multiarch=$(dpkg-architecture -a"$arch" -qDEB_HOST_MULTIARCH 2>/dev/null)
    for dir in lib usr/lib; do shlibs_dirs+=("-l$DEB_SYSROOT/$dir/$multiarch" "-l$DEB_SYSROOT/$dir"); done
fi

if [ -n "${PANICD_BIN:-}" ]; then
    executables=(panicd)
    bin=$(dirname "$PANICD_BIN")
    [ "$(basename "$PANICD_BIN")" = panicd ] || { echo "build-deb: PANICD_BIN must name a file called panicd" >&2; exit 1; }
    echo "== packaging the $arch panicd built by the cross build: $PANICD_BIN"
else
    executables=(panicd controlroom)
    echo "== release build (static Swift runtime): panicd, controlroom"
    $SWIFT build "${release[@]}" --static-swift-stdlib "${flags[@]}" --product panicd
    $SWIFT build "${release[@]}" --static-swift-stdlib "${flags[@]}" --product controlroom
    bin=$($SWIFT build "${release[@]}" --static-swift-stdlib "${flags[@]}" --show-bin-path)
fi
for exe in "${executables[@]}"; do
    # A cross build runs here only through EXEC_WRAPPER (an emulator).
    [ "$arch" = "$(dpkg --print-architecture)" ] || [ ${#wrapper[@]} -gt 0 ] || break
    said=$("${wrapper[@]}" "$bin/$exe" --version)
    if [ "$said" != "$version" ]; then
        echo "build-deb: $exe --version says '$said' but VERSION says '$version' (Sources/PanicCore/Version.swift)" >&2
        exit 1
    fi
    if readelf -dW "$bin/$exe" | grep 'NEEDED' | grep -q libswift; then
        echo "build-deb: $exe still needs Swift runtime libraries:" >&2
        readelf -dW "$bin/$exe" | grep 'NEEDED' | grep libswift >&2
        exit 1
    fi
done

rm -rf "$out/stage"
mkdir -p "$out/stage"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
date=$(git log -1 --format=%aD 2>/dev/null || date -R)
sed -e "s/@VERSION@/$version/g" -e "s/@COMMIT@/$commit/" -e "s/@DATE@/$date/" debian/changelog.in > "$work/changelog"

# stage PACKAGE: the common parts of a package tree (docs, copyright, changelog, maintainer scripts).
stage() {
    local package=$1 root=$out/stage/$1
    install -d "$root/DEBIAN" "$root/usr/share/doc/$package"
    install -m 0644 debian/copyright "$root/usr/share/doc/$package/copyright"
    # A native package (the version has no Debian revision): changelog.gz, not changelog.Debian.gz.
    gzip -9n < "$work/changelog" > "$root/usr/share/doc/$package/changelog.gz"
    for script in postinst prerm postrm; do
        [ -f "debian/$package.$script" ] && install -m 0755 "debian/$package.$script" "$root/DEBIAN/$script"
    done
    [ -f "debian/$package.conffiles" ] && install -m 0644 "debian/$package.conffiles" "$root/DEBIAN/conffiles"
    if [ -f "debian/$package.lintian-overrides" ]; then
        install -D -m 0644 "debian/$package.lintian-overrides" "$root/usr/share/lintian/overrides/$package"
    fi
    return 0
}

# executable NAME PACKAGE: the stripped binary (what dh_strip does) and its manual page.
executable() {
    local name=$1 root=$out/stage/$2
    install -D -m 0755 "$bin/$name" "$root/usr/bin/$name"
    ${STRIP:-strip} --remove-section=.comment --remove-section=.note --strip-unneeded "$root/usr/bin/$name"
    install -d "$root/usr/share/man/man8"
    sed -e "s/@VERSION@/$version/g" "docs/man/$name.8" | gzip -9n > "$root/usr/share/man/man8/$name.8.gz"
}

# libc_floor BINARY: the libc6 version the GLIBC_ABI_* versions BINARY needs call for (from libc6's symbols
# file), or nothing. dpkg-shlibdeps counts only versions that symbols are bound to; GLIBC_ABI_DT_RELR, which
# lld's packed relative relocations add (glibc 2.36), has none, so it would let the package install on glibc
# 2.35, where the loader refuses panicd ("version `GLIBC_ABI_DT_RELR' not found").
libc_floor() {
    local symbols need version floor=
    symbols=${LIBC6_SYMBOLS:-/var/lib/dpkg/info/libc6:$(dpkg --print-architecture).symbols}
    [ -f "$symbols" ] || symbols=/var/lib/dpkg/info/libc6.symbols
    for need in $(readelf -VW "$1" | awk '$2 == "Name:" && $3 ~ /^GLIBC_ABI_/ { print $3 }'); do
        if [ ! -f "$symbols" ]; then
            echo "build-deb: $1 needs $need, and libc6's symbols file is not at $symbols to say which release has it" >&2
            exit 1
        fi
        version=$(awk -v key="$need@$need" '$1 == key { print $2 }' "$symbols")
        if [ -z "$version" ]; then
            echo "build-deb: $1 needs $need, which $symbols does not list" >&2
            exit 1
        fi
        if [ -z "$floor" ] || dpkg --compare-versions "$version" gt "$floor"; then floor=$version; fi
    done
    echo "$floor"
}

# finish PACKAGE BINARY: dependencies, control file, .deb.
finish() {
    local package=$1 binary=$2 root=$out/stage/$1 floor current
    # For another architecture dpkg-shlibdeps reads the binary with that architecture's objdump
    # (binutils-aarch64-linux-gnu) and takes the libraries' packages from DEB_SHLIBS_TREES.
    DEB_HOST_ARCH=$arch dpkg-shlibdeps "${shlibs_trees[@]}" "${shlibs_dirs[@]}" -T"$work/$package.substvars" \
        "$root/usr/bin/$binary"
    floor=$(libc_floor "$root/usr/bin/$binary")
    if [ -n "$floor" ]; then
        current=$(sed -n 's/^shlibs:Depends=.*libc6 (>= \([^)]*\)).*/\1/p' "$work/$package.substvars")
        if [ -z "$current" ]; then
            echo "build-deb: dpkg-shlibdeps gave $binary no libc6 dependency" >&2
            exit 1
        fi
        if dpkg --compare-versions "$floor" gt "$current"; then
            sed -i "s/libc6 (>= $current)/libc6 (>= $floor)/" "$work/$package.substvars"
        fi
    fi
    dpkg-gencontrol -p"$package" -P"$root" -T"$work/$package.substvars" -l"$work/changelog" -f"$work/files" \
        -v"$version" -DArchitecture="$arch"
    find "$root" -type d -exec chmod 0755 {} +
    dpkg-deb --root-owner-group -Zxz --build "$root" "$out/${package}_${version}_${arch}.deb" >/dev/null
}

echo "== staging panicbridge"
root=$out/stage/panicbridge
stage panicbridge
executable panicd panicbridge
install -d "$root/usr/share/panicbridge/boards" "$root/usr/share/panicbridge/sim/routes" \
    "$root/usr/share/panicbridge/sim/scenarios" \
    "$root/usr/share/panicbridge/udev/boards" "$root/lib/udev/rules.d" "$root/lib/systemd/system" \
    "$root/etc/panicbridge" "$root/usr/share/doc/panicbridge/examples"
install -m 0644 boards/*.yaml "$root/usr/share/panicbridge/boards/"
# The simulated board's GNSS drives these routes (found as <boards>/../sim/routes/); `panicd sim` and
# `panicd sim --interactive/--fleet` find the scenarios and routes here when not run in a source tree.
install -m 0644 sim/routes/*.csv "$root/usr/share/panicbridge/sim/routes/"
install -m 0644 sim/scenarios/*.yaml "$root/usr/share/panicbridge/sim/scenarios/"
install -m 0644 udev/60-panicbridge-*.rules "$root/lib/udev/rules.d/"
install -m 0644 udev/boards/*.rules "$root/usr/share/panicbridge/udev/boards/"
install -m 0644 dist/panicd.service "$root/lib/systemd/system/"
install -m 0644 dist/panicbridge-update.path dist/panicbridge-update.service "$root/lib/systemd/system/"
install -m 0644 config/panicd.example.yaml "$root/etc/panicbridge/panicd.yaml"
install -m 0644 config/panicd.example.yaml "$root/usr/share/doc/panicbridge/examples/panicd.example.yaml"
install -m 0644 README.md docs/configuration.md docs/daemon.md docs/updates.md "$root/usr/share/doc/panicbridge/"
install -m 0644 boards/README.md "$root/usr/share/doc/panicbridge/boards.md"
install -m 0644 udev/README.md "$root/usr/share/doc/panicbridge/udev.md"
# panicd opens libgpiod at run time (libgpiod.so.3, else libgpiod.so.2: debian/control's `libgpiod3 | libgpiod2`,
# which dpkg-shlibdeps cannot see). A NEEDED entry would tie the package to one release's libgpiod again.
if readelf -d "$root/usr/bin/panicd" | grep -q 'NEEDED.*libgpiod'; then
    echo "build-deb: panicd links libgpiod; it must open it at run time (PanicLinux/GPIODLibrary.swift)" >&2
    exit 1
fi
finish panicbridge panicd

if [ -n "${PANICD_BIN:-}" ]; then
    debs=("$out/panicbridge_${version}_${arch}.deb")
else
echo "== staging panicbridge-controlroom"
root=$out/stage/panicbridge-controlroom
stage panicbridge-controlroom
executable controlroom panicbridge-controlroom
install -d "$root/lib/systemd/system"
install -m 0644 dist/panicbridge-controlroom.service "$root/lib/systemd/system/"
install -m 0644 docs/controlroom.md "$root/usr/share/doc/panicbridge-controlroom/README.md"
finish panicbridge-controlroom controlroom
debs=("$out/panicbridge_${version}_${arch}.deb" "$out/panicbridge-controlroom_${version}_${arch}.deb")
fi

echo "== lintian"
lintian --allow-root --fail-on error "${debs[@]}"
for deb in "${debs[@]}"; do
    echo "built $deb: $(stat -c %s "$deb") bytes, installed $(dpkg-deb -f "$deb" Installed-Size) KiB," \
        "depends: $(dpkg-deb -f "$deb" Depends)"
done
echo "== make deb took $(($(date +%s) - started)) s"
