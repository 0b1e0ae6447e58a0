#!/bin/sh
# mmdebstrap customize hook ($1 = the root filesystem): the Raspberry Pi boot files, only when
# build.sh builds for the Pi (MADOGUCHI_TARGET=raspberrypi; the amd64 test filesystem skips it).
# What Raspberry Pi OS Lite (bookworm, 64-bit) has:
#   /boot/firmware      the FAT boot partition: firmware, kernels and initramfs (the raspi-firmware
#                       and linux-image-rpi-* packages put them there), config.txt, cmdline.txt
#   /etc/fstab          boot and root by PARTUUID
#   first boot          raspberrypi-sys-mods' firstboot grows the root partition to the card
# make-img.sh replaces @DISKID@ with the image's MBR disk identifier.
set -eu
root="$1"
[ "${MADOGUCHI_TARGET:-debian}" = raspberrypi ] || exit 0

mkdir -p "$root/boot/firmware"
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

cat > "$root/etc/fstab" <<'FSTAB'
proc                  /proc           proc  defaults          0 0
PARTUUID=@DISKID@-01  /boot/firmware  vfat  defaults          0 2
PARTUUID=@DISKID@-02  /               ext4  defaults,noatime  0 1
FSTAB
