#!/bin/sh
# /init of the rig's guest: mounts the kernel file systems, loads configfs, 9p and gpio-sim, mounts the
# host's root read-only over 9p and runs the repository's scripts/hil/guest.sh there (chrooted, so paths are
# the host's). Its exit status leaves through QEMU's isa-debug-exit port: QEMU exits with (status << 1) | 1.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in configfs netfs 9pnet 9pnet_virtio 9p gpio-sim; do
    insmod /lib/modules/$module.ko || echo "hil: insmod $module failed"
done
repo=
suite=
for word in $(cat /proc/cmdline); do
    case $word in
        hil.repo=*) repo=${word#hil.repo=} ;;
        hil.suite=*) suite=${word#hil.suite=} ;;
    esac
done
status=1
if mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=524288 hostroot /host; then
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
    echo "hil: guest up after $(cut -d' ' -f1 /proc/uptime) s, running $repo/scripts/hil/guest.sh $suite"
    chroot /host /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp \
        /bin/sh "$repo/scripts/hil/guest.sh" "$repo" "$suite"
    status=$?
else
    echo "hil: cannot mount the host's root over 9p"
fi
echo "hil: guest finished with status $status after $(cut -d' ' -f1 /proc/uptime) s"
# isa-debug-exit at 0xf4 (244): one byte, the status.
printf "$(printf '\\%03o' "$status")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
poweroff -f
