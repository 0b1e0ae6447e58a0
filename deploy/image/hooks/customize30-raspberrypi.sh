#!/bin/sh
# mmdebstrap customize hook ($1 = the root filesystem): the Raspberry Pi boot files, only when
# build.sh builds for the Pi (MADOGUCHI_TARGET=raspberrypi; the amd64 test filesystem skips it).
# What Raspberry Pi OS Lite (bookworm, 64-bit) has:
#   /boot/firmware      the FAT boot partition: firmware, kernels and initramfs (the raspi-firmware
#                       and linux-image-rpi-* packages put them there), config.txt, cmdline.txt
#   /etc/fstab          boot and root by PARTUUID
#   first boot          raspberrypi-sys-mods' firstboot grows the root partition to the card
# make-img.sh replaces @DISKID@ with the image's MBR disk identifier.
#
# MADOGUCHI_TARGET=debian-pi (build.sh --target debian-pi): Debian's own Pi packages instead.
# raspi-firmware's kernel hook writes config.txt (kernel=vmlinuz-…, initramfs, upstream_kernel=1)
# and cmdline.txt itself, on every kernel or initramfs update, from /etc/default/raspi-firmware
# (ROOTPART, CONSOLES) and /etc/default/raspi-firmware-custom (more config.txt lines): this hook
# sets those and runs the kernel hook again. No raspberrypi-sys-mods there: a oneshot unit,
# grow-rootfs.service, grows the root partition (growpart) and its ext4 on first boot.
set -eu
root="$1"
target="${MADOGUCHI_TARGET:-debian}"
[ "$target" = raspberrypi ] || [ "$target" = debian-pi ] || exit 0

mkdir -p "$root/boot/firmware"
cat > "$root/etc/fstab" <<'FSTAB'
proc                  /proc           proc  defaults          0 0
PARTUUID=@DISKID@-01  /boot/firmware  vfat  defaults          0 2
PARTUUID=@DISKID@-02  /               ext4  defaults,noatime  0 1
FSTAB

if [ "$target" = debian-pi ]; then
  # make-img.sh puts the disk id into this file too: later kernel updates keep booting.
  sed -i -e 's|^#\{0,1\}ROOTPART=.*|ROOTPART="PARTUUID=@DISKID@-02 rootfstype=ext4"|' \
         -e 's|^#\{0,1\}CONSOLES=.*|CONSOLES="ttyS1,115200 tty1"|' "$root/etc/default/raspi-firmware"
  cat > "$root/etc/default/raspi-firmware-custom" <<'CONFIG'
# madoguchi: the screens draw through KMS/DRM (SDL's kmsdrm; Debian's kernel has vc4 and v3d,
# the upstream device tree enables them: no overlay). No overscan, the Pi 4's full clock.
disable_overscan=1
disable_fw_kms_setup=1
arm_boost=1
CONFIG
  chroot "$root" env DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware

  cat > "$root/usr/local/sbin/grow-rootfs" <<'SCRIPT'
#!/bin/sh
# The root partition to the end of the card (growpart: 1 = nothing to grow), then its ext4.
set -eu
dev=$(findmnt -no SOURCE /)
disk=/dev/$(lsblk -no PKNAME "$dev")
growpart "$disk" "$(cat "/sys/class/block/$(basename "$dev")/partition")" || [ $? -eq 1 ]
resize2fs "$dev"
SCRIPT
  chmod 0755 "$root/usr/local/sbin/grow-rootfs"
  cat > "$root/etc/systemd/system/grow-rootfs.service" <<'UNIT'
[Unit]
Description=Grow the root partition and file system to the SD card (first boot)
DefaultDependencies=no
After=local-fs-pre.target systemd-remount-fs.service
Before=local-fs.target
ConditionPathExists=!/var/lib/grow-rootfs.done

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/grow-rootfs
ExecStartPost=/bin/touch /var/lib/grow-rootfs.done

[Install]
WantedBy=local-fs.target
UNIT
  chroot "$root" systemctl enable grow-rootfs.service
  exit 0
fi

cat > "$root/boot/firmware/config.txt" <<'CONFIG'
# Raspberry Pi OS bookworm's defaults (http://rptl.io/configtxt), for the madoguchi screens.
dtparam=audio=on
camera_auto_detect=0
display_auto_detect=1
auto_initramfs=1
# The full KMS driver: the apps draw through KMS/DRM (SDL's kmsdrm), no desktop.
dtoverlay=vc4-kms-v3d
max_framebuffers=2
disable_fw_kms_setup=1
arm_64bit=1
disable_overscan=1
arm_boost=1

[cm4]
otg_mode=1

[all]
CONFIG

# console on tty1 for a technician's keyboard; the setup screen and the apps take the display.
echo "console=serial0,115200 console=tty1 root=PARTUUID=@DISKID@-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot" \
    > "$root/boot/firmware/cmdline.txt"

