#!/usr/bin/env bash
# Boot a built arm64 image under qemu-system-aarch64 and wait for its first boot to reach the
# setup screen's service: the image's root filesystem mounts, grows to the disk, and systemd
# starts madoguchi-setup.service. A smoke test of the recipe on a machine without a Pi:
#
#   deploy/image/try-qemu.sh --img build/pi-debian/madoguchi-arm64.img --boot build/pi-debian/rootfs/boot
#
# The image itself is not changed (a copy-on-write overlay takes the writes). qemu's "virt"
# machine is not a Raspberry Pi: the Pi's firmware and device tree are not exercised, only the
# kernel (Debian's linux-image-arm64, the same the Pi boots), the initramfs, the root filesystem,
# systemd and the package's units. Exit 0 when the setup service started and a login prompt
# came, 1 otherwise; the serial console is kept in DIR/serial.log.
#
# Needs qemu-system-arm and qemu-utils (Debian). Without KVM for arm64 it runs emulated: about a
# minute here.
set -euo pipefail

img="" boot="" work="" timeout_s=900
while [ $# -gt 0 ]; do
  case "$1" in
    --img) img="${2:?}"; shift 2 ;;
    --boot) boot="${2:?}"; shift 2 ;;
    --work) work="${2:?}"; shift 2 ;;
    --timeout) timeout_s="${2:?}"; shift 2 ;;
    *) echo "try-qemu.sh: unknown option $1 (--img FILE --boot DIR [--work DIR] [--timeout S])" >&2; exit 2 ;;
  esac
done
[ -f "$img" ] || { echo "try-qemu.sh: --img: no image at '$img' (build one: deploy/image/build.sh ... --img)" >&2; exit 2; }
kernel=$(ls "$boot"/vmlinuz-* 2>/dev/null | sort -V | tail -1 || true)
initrd=$(ls "$boot"/initrd.img-* 2>/dev/null | sort -V | tail -1 || true)
[ -n "$kernel" ] && [ -n "$initrd" ] || { echo "try-qemu.sh: --boot: no vmlinuz-*/initrd.img-* in '$boot' (the image's /boot)" >&2; exit 2; }
command -v qemu-system-aarch64 >/dev/null || { echo "try-qemu.sh: qemu-system-aarch64 missing (apt-get install qemu-system-arm qemu-utils)" >&2; exit 2; }

work="${work:-$(mktemp -d)}"
mkdir -p "$work"
# The root partition by its PARTUUID, as the image's fstab names it (the disk id is in the MBR).
disk_id=$(od -An -tx4 -j440 -N4 "$img" | tr -d ' ')
qemu-img create -q -f qcow2 -b "$(realpath "$img")" -F raw "$work/overlay.qcow2"
log="$work/serial.log"
: > "$log"
qemu-system-aarch64 -M virt -cpu cortex-a57 -smp 2 -m 2048 -nographic -no-reboot \
  -kernel "$kernel" -initrd "$initrd" \
  -append "root=PARTUUID=${disk_id}-02 rw console=ttyAMA0" \
  -drive "file=$work/overlay.qcow2,format=qcow2,if=virtio" \
  -netdev user,id=n0 -device virtio-net-pci,netdev=n0 > "$log" 2>&1 &
qemu=$!
trap 'kill $qemu 2>/dev/null || true' EXIT
started=$(date +%s)
while kill -0 $qemu 2>/dev/null; do
  if grep -q "Started .*madoguchi-setup" "$log" && grep -q "login:" "$log"; then
    echo "try-qemu.sh: booted in $(( $(date +%s) - started )) s; the setup service started (serial log: $log)"
    grep -E "grow-rootfs|madoguchi" "$log" | sed 's/\x1b\[[0-9;]*m//g' | tail -5
    exit 0
  fi
  if [ $(( $(date +%s) - started )) -gt "$timeout_s" ]; then break; fi
  sleep 2
done
echo "try-qemu.sh: no setup service and login prompt within ${timeout_s} s; see $log" >&2
tail -20 "$log" >&2
exit 1
