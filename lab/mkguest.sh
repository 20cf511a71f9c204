#!/usr/bin/env bash
# mkguest.sh - a tiny Linux guest for tests: Debian's cloud kernel (downloaded as a package and
# unpacked, not installed) and an initramfs of busybox whose /init prints "GUEST-READY", then a
# counter ("tick N") on the serial console every 200 ms, forever. A test that reads the serial
# log sees at once whether a guest kept running (the counter goes on) or restarted (it starts
# again at 1). The ACPI power button (QMP system_powerdown, PVE's Shutdown) powers it off.
# Boots in ~3 s under TCG with 128 MiB:
#   qemu-system-x86_64 -accel tcg -m 128 -kernel OUT/vmlinuz -initrd OUT/initrd.gz -append console=ttyS0 ...
#
# usage: lab/mkguest.sh [OUT]   (default $CORRAL_CACHE/guest or ~/.cache/corral/guest)
# Needs: apt-get (the kernel package), busybox-static. Idempotent: an existing guest is kept.
set -euo pipefail
OUT=${1:-${CORRAL_CACHE:-$HOME/.cache/corral}/guest}
VERSION=2  # bump when the guest changes, so cached guests are rebuilt
if [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd.gz" ] && [ "$(cat "$OUT/version" 2>/dev/null)" = "$VERSION" ]; then echo "$OUT"; exit 0; fi
[ -x /bin/busybox ] || { echo "mkguest.sh: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
[ -n "$pkg" ] || { echo "mkguest.sh: no linux-image-cloud-amd64 in the package lists (apt-get update?)" >&2; exit 1; }
apt-get download "$pkg" >/dev/null 2>&1 || { apt-get update -qq && apt-get download "$pkg" >/dev/null; }
dpkg -x "$pkg"_*.deb kernel
cp kernel/boot/vmlinuz-* "$OUT/vmlinuz.new"

mkdir -p root/bin root/proc root/dev root/sys root/var/log root/etc/acpi/PWRF root/lib/modules
cp /bin/busybox root/bin/busybox
for applet in sh echo sleep mount insmod acpid poweroff; do ln -s busybox "root/bin/$applet"; done
# the ACPI power button reaches userspace through these two (neither depends on another module)
for m in evdev button; do
  f=$(find kernel/lib/modules -name "$m.ko*" | head -1)
  case "$f" in *.xz) xz -dc "$f" ;; *.zst) zstd -dc "$f" ;; *) cat "$f" ;; esac > "root/lib/modules/$m.ko"
done
printf '#!/bin/sh\necho "ACPI power button: powering off" > /dev/ttyS0\npoweroff -f\n' > root/etc/acpi/PWRF/00000080
chmod +x root/etc/acpi/PWRF/00000080
cat > root/init <<'INIT'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
insmod /lib/modules/evdev.ko
insmod /lib/modules/button.ko
acpid -c /etc/acpi
echo "GUEST-READY" > /dev/ttyS0
i=0
while true; do
  i=$((i + 1))
  echo "tick $i" > /dev/ttyS0
  sleep 0.2
done
INIT
chmod +x root/init
(cd root && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$OUT/initrd.gz.new"
mv "$OUT/vmlinuz.new" "$OUT/vmlinuz"
mv "$OUT/initrd.gz.new" "$OUT/initrd.gz"
echo "$VERSION" > "$OUT/version"
echo "$OUT"
