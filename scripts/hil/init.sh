#!/bin/sh
# /init of the rig's guest: mounts the kernel file systems, loads configfs, 9p and gpio-sim, mounts the
# host's root read-only over 9p and runs the repository's scripts/hil/guest.sh there.
#   x86-64: chrooted into the host's root, so paths are the host's and its programs run.
#   arm64: the host's programs are x86-64, so the guest stays in this initramfs (busybox) and reads the repository,
#          the arm64 panicd and its sysroots under /host; guest.sh gets those host paths (hil.args=A,B,...).
# Its exit status leaves through QEMU's isa-debug-exit port on x86-64 (QEMU exits with (status << 1) | 1) and
# as the console line "hil: guest TOKEN finished with status N" (run.py reads it where there is no such port; the
# token, a fresh one per boot from run.py, keeps a line the suite prints from passing for it).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in configfs netfs 9pnet 9pnet_virtio 9p gpio-sim; do
    insmod /lib/modules/$module.ko || echo "hil: insmod $module failed"
done
repo=
suite=
args=
token=
for word in $(cat /proc/cmdline); do
    case $word in
        hil.repo=*) repo=${word#hil.repo=} ;;
        hil.suite=*) suite=${word#hil.suite=} ;;
        hil.args=*) args=$(echo "${word#hil.args=}" | tr , ' ') ;;
        hil.token=*) token=${word#hil.token=} ;;
    esac
done
arch=$(uname -m)
status=1
if mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=524288 hostroot /host; then
    if [ "$arch" = aarch64 ]; then
        mkdir -p /tmp /run
        mount -t configfs configfs /sys/kernel/config
        echo "hil: guest up after $(cut -d' ' -f1 /proc/uptime) s ($arch), running $repo/scripts/hil/guest.sh $suite"
        # shellcheck disable=SC2086 # hil.args: host paths, one word each
        env -i PATH=/bin HOME=/tmp /bin/sh "/host$repo/scripts/hil/guest.sh" "$repo" "$suite" $args
        status=$?
    else
        # The guest's /tmp is its own tmpfs; a checkout under the host's /tmp (a CI clone there) is carried through it.
        case $repo in
            /tmp/*) mkdir -p /keep && mount -o bind "/host$repo" /keep ;;
        esac
        mount -t tmpfs tmp /host/tmp
        case $repo in
            /tmp/*) mkdir -p "/host$repo" && mount -o bind /keep "/host$repo" ;;
        esac
        mount -t proc proc /host/proc
        mount -t sysfs sys /host/sys
        mount -t configfs configfs /host/sys/kernel/config
        mount -t devtmpfs dev /host/dev
        mount -t tmpfs run /host/run
        echo "hil: guest up after $(cut -d' ' -f1 /proc/uptime) s ($arch), running $repo/scripts/hil/guest.sh $suite"
        chroot /host /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp \
            /bin/sh "$repo/scripts/hil/guest.sh" "$repo" "$suite"
        status=$?
    fi
else
    echo "hil: cannot mount the host's root over 9p"
fi
echo "hil: guest $token finished with status $status after $(cut -d' ' -f1 /proc/uptime) s"
if [ "$arch" = x86_64 ]; then
    # isa-debug-exit at 0xf4 (244): one byte, the status.
    printf "$(printf '\\%03o' "$status")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
fi
poweroff -f
