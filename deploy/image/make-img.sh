#!/usr/bin/env bash
# An SD card image from a root filesystem directory, the way Raspberry Pi OS lays one out:
#   partition 1  FAT32 "bootfs", what the rootfs has in /boot/firmware (firmware, kernel, initramfs,
#                config.txt, cmdline.txt), mounted there again on the device
#   partition 2  ext4 "rootfs", everything else (its /boot/firmware is the empty mount point)
# Without loop devices or mounts: mkfs.ext4 -d fills the ext4 from the directory, mtools fills the
# FAT, sfdisk writes the MBR, dd puts the two file systems at their offsets. Root (or
# mmdebstrap --mode=unshare) only to read every file of the root filesystem.
#
#   deploy/image/make-img.sh ROOTFS OUT.img [--boot-mb 512] [--free-mb 512] [--disk-id HEX8]
#
# The boot files name the root partition by PARTUUID (<disk id>-02) and fstab both partitions:
# the hook customize30-raspberrypi.sh writes @DISKID@ there and this script puts the disk id in.
# On first boot raspberrypi-sys-mods grows the root partition to the card.
set -euo pipefail

die() { echo "make-img.sh: $*" >&2; exit 2; }
[ $# -ge 2 ] || die "usage: make-img.sh ROOTFS OUT.img [--boot-mb N] [--free-mb N] [--disk-id HEX8]"
rootfs="$(cd "$1" && pwd)" out="$2"; shift 2
boot_mb=512 free_mb=512 disk_id="$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
while [ $# -gt 0 ]; do
  case "$1" in
    --boot-mb) boot_mb="${2:?}"; shift 2 ;;
    --free-mb) free_mb="${2:?}"; shift 2 ;;
    --disk-id) disk_id="${2:?}"; shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done
[[ "$disk_id" =~ ^[0-9a-f]{8}$ ]] || die "--disk-id: 8 lowercase hex digits, not $disk_id"
for tool in mkfs.ext4 mkfs.vfat mcopy sfdisk; do
  command -v "$tool" >/dev/null || die "$tool is missing: scripts/ensure-package-deps.sh installs it"
done

work="$(mktemp -d "$(dirname "$out")/.make-img.XXXXXX")"
aside="$work/firmware"
cleanup() {
  # Put the boot files back into the root filesystem whatever happened.
  if [ -d "$aside" ]; then rmdir "$rootfs/boot/firmware" 2>/dev/null || true; mv "$aside" "$rootfs/boot/firmware"; fi
  rm -rf "$work"
}
trap cleanup EXIT

# /etc/default/raspi-firmware: --target debian-pi, where Debian's kernel hook rewrites cmdline.txt
# from it on every kernel update.
for f in "$rootfs/etc/fstab" "$rootfs/boot/firmware/cmdline.txt" "$rootfs/etc/default/raspi-firmware"; do
  [ ! -f "$f" ] || sed -i "s/@DISKID@/$disk_id/g" "$f"
done

# Partition 1: FAT32 with the boot files.
mkdir -p "$rootfs/boot/firmware"
mkfs.vfat -F 32 -n bootfs -C "$work/boot.vfat" $((boot_mb * 1024)) 2>&1 >/dev/null | { grep -v "lowercase labels" >&2 || true; }
if [ -n "$(ls -A "$rootfs/boot/firmware")" ]; then
  mcopy -s -p -m -i "$work/boot.vfat" "$rootfs/boot/firmware/"* ::/
fi

# Partition 2: ext4 with the rest; /boot/firmware stays as an empty mount point.
mv "$rootfs/boot/firmware" "$aside"
mkdir "$rootfs/boot/firmware"
used_mb=$(du -sm -x "$rootfs" | cut -f1)
root_mb=$(( used_mb + used_mb / 5 + free_mb ))
mkfs.ext4 -q -F -L rootfs -d "$rootfs" "$work/root.ext4" "${root_mb}M"
rmdir "$rootfs/boot/firmware"
mv "$aside" "$rootfs/boot/firmware"

# The card: 4 MiB before the first partition (Raspberry Pi OS's alignment), MBR, both partitions.
start=8192
boot_sectors=$(( boot_mb * 2048 ))
root_sectors=$(( root_mb * 2048 ))
rm -f "$out"
truncate -s $(( (start + boot_sectors + root_sectors) * 512 )) "$out"
sfdisk --quiet "$out" <<TABLE
label: dos
label-id: 0x$disk_id
unit: sectors
start=$start, size=$boot_sectors, type=c
start=$(( start + boot_sectors )), size=$root_sectors, type=83
TABLE
dd if="$work/boot.vfat" of="$out" bs=512 seek=$start conv=notrunc,sparse status=none
dd if="$work/root.ext4" of="$out" bs=512 seek=$(( start + boot_sectors )) conv=notrunc,sparse status=none
echo "$out: disk id $disk_id, bootfs ${boot_mb} MiB, rootfs ${root_mb} MiB"
