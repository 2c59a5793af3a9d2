#!/usr/bin/env bash
# The install test: the built packages installed on this machine with apt (dependencies from the archive), then
# checked the way an integrator would use them, then purged, leaving nothing behind. CI runs it on a fresh
# Debian 12 machine (`make deb-test`, part of `make test`); it needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(tr -d '[:space:]' < VERSION)
arch=$(dpkg --print-architecture)
box=.build/deb/panicbridge_${version}_${arch}.deb
room=.build/deb/panicbridge-controlroom_${version}_${arch}.deb
[ "$(id -u)" -eq 0 ] || { echo "deb-install-test: needs root (it installs and purges the packages)" >&2; exit 1; }
for deb in "$box" "$room"; do [ -f "$deb" ] || { echo "deb-install-test: no $deb (make deb)" >&2; exit 1; }; done
if dpkg-query -W -f='${Status}' panicbridge 2>/dev/null | grep -q "ok installed"; then
    echo "deb-install-test: panicbridge is already installed here; purge it first" >&2
    exit 1
fi

failures=0
check() {
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then echo "  ok   $what"; else echo "  FAIL $what"; failures=$((failures + 1)); fi
}
purge() { DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq panicbridge panicbridge-controlroom >/dev/null 2>&1 || true; }
trap purge EXIT

echo "== installing $box $room"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "./$box" "./$room"

echo "== checks"
check "user panicd" getent passwd panicd
check "group panicd" getent group panicd
check "panicd is in dialout" sh -c 'id -nG panicd | tr " " "\n" | grep -qx dialout'
if getent group gpio >/dev/null; then
    check "panicd is in gpio (Raspberry Pi OS)" sh -c 'id -nG panicd | tr " " "\n" | grep -qx gpio'
fi
check "/var/lib/panicd is panicd:panicd 0700" sh -c '[ "$(stat -c "%U:%G %a" /var/lib/panicd)" = "panicd:panicd 700" ]'
check "the device key was made, panicd:panicd 0600" \
    sh -c '[ "$(stat -c "%U:%G %a" /var/lib/panicd/device.key)" = "panicd:panicd 600" ]'
check "the control room's key was made" test -f /var/lib/panicbridge-controlroom/controlroom.key
check "panicd --version is $version" sh -c "[ \"\$(panicd --version)\" = '$version' ]"
check "controlroom --version is $version" sh -c "[ \"\$(controlroom --version)\" = '$version' ]"
check "no Swift runtime libraries needed (ldd)" sh -c '! ldd /usr/bin/panicd /usr/bin/controlroom | grep -q libswift'
# Packed relative relocations need glibc 2.36 (GLIBC_ABI_DT_RELR); dpkg-shlibdeps alone would say 2.35.
for binary in panicd controlroom; do
    package=panicbridge; [ "$binary" = controlroom ] && package=panicbridge-controlroom
    if readelf -VW "/usr/bin/$binary" | grep -q GLIBC_ABI_DT_RELR; then
        check "$package depends on libc6 (>= 2.36), as $binary's packed relocations need" \
            sh -c "dpkg-query -W -f='\${Depends}' $package | grep -qF 'libc6 (>= 2.36)'"
    fi
done
check "the example config is a conffile" sh -c 'dpkg-query -W -f="\${Conffiles}" panicbridge | grep -q /etc/panicbridge/panicd.yaml'
check "the man pages are installed" test -f /usr/share/man/man8/panicd.8.gz -a -f /usr/share/man/man8/controlroom.8.gz
check "the unit's Documentation= file is installed" test -f /usr/share/doc/panicbridge/README.md
for unit in panicd.service panicbridge-controlroom.service; do
    check "systemd-analyze verify $unit" systemd-analyze verify "/lib/systemd/system/$unit"
    exposure=$(systemd-analyze security --offline=true "/lib/systemd/system/$unit" 2>/dev/null \
        | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    echo "       $unit: exposure $exposure"
    check "systemd-analyze security $unit ≤ 2.0" awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 2.0) }'
done
check "the units are not enabled on first install" \
    test ! -e /etc/systemd/system/multi-user.target.wants/panicd.service \
    -a ! -e /etc/systemd/system/multi-user.target.wants/panicbridge-controlroom.service
check "udev rules are installed" test -f /lib/udev/rules.d/60-panicbridge-gpio.rules -a -f /lib/udev/rules.d/60-panicbridge-gnss.rules
# udevadm test only simulates the rules (it changes nothing); it needs a tty device to run them on.
if [ -e /sys/class/tty/ttyS0 ] && command -v udevadm >/dev/null; then
    check "udevadm test reads the GNSS rules" sh -c 'udevadm test --action=add /sys/class/tty/ttyS0 2>&1 | grep -q 60-panicbridge-gnss.rules'
fi
check "panicd boards check (installed board files)" panicd boards check
check "panicd config check (installed config, as root)" panicd config check
check "panicd config check (as the panicd user)" runuser -u panicd -- panicd config check
panicd config check || true

echo "== software update and rollback (scripts/deb-update-test.sh)"
if ! scripts/deb-update-test.sh "$box"; then failures=$((failures + 1)); fi

echo "== purging"
trap - EXIT
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq panicbridge panicbridge-controlroom >/dev/null
check "the packages are gone" sh -c '! dpkg-query -W -f="\${Status}" panicbridge panicbridge-controlroom 2>/dev/null | grep -q installed'
for path in /usr/bin/panicd /usr/bin/controlroom /etc/panicbridge /var/lib/panicd /var/lib/panicbridge-controlroom \
    /var/lib/panicbridge-update /lib/systemd/system/panicbridge-update.path \
    /lib/systemd/system/panicd.service /lib/udev/rules.d/60-panicbridge-gpio.rules /usr/share/panicbridge; do
    check "purge removed $path" test ! -e "$path"
done
if [ "$failures" -ne 0 ]; then
    echo "deb-install-test: $failures check(s) failed" >&2
    exit 1
fi
echo "deb-install-test: every check passed"
