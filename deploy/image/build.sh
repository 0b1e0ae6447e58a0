#!/usr/bin/env bash
# A root filesystem (and, for the Raspberry Pi, an SD card image) with the madoguchi package
# installed and the first-boot setup screen enabled. docs/packaging.md walks through it.
#
#   deploy/image/build.sh --arch arm64|amd64 --deb FILE --out DIR [options]
#
# Why mmdebstrap (Debian's, bookworm main) and not pi-gen or rpi-image-gen: one tool and one
# recipe (the hooks in hooks/) builds both the Pi's root filesystem and the amd64 one the package
# tests install into (tests/test_package.py); it runs as root or unprivileged (--mode=unshare, no
# sudo), needs no Docker and no loop devices, and takes a .deb and apt mirrors as they are.
# pi-gen is a stack of shell stages run as root (or in Docker) that builds only Pi images;
# rpi-image-gen is built around Raspberry Pi's own archive and layers. Both would have to be
# taught to install our package the way mmdebstrap's --include/hooks already do.
#
# Options:
#   --arch amd64|arm64     the root filesystem's architecture. A foreign one needs qemu-user with
#                          binfmt_misc on the build machine; build arm64 on an arm64 machine.
#   --deb FILE             the madoguchi .deb (make deb); for the same architecture
#   --out DIR              DIR/rootfs (a directory) or DIR/rootfs.tar, DIR/timings
#   --target debian|raspberrypi|debian-pi
#                          plain Debian bookworm (default for amd64), or Raspberry Pi OS Lite's
#                          package set with the Pi's kernel and boot files (default for arm64),
#                          or (arm64 only) a Pi 3/4 image from Debian's archive alone: Debian's
#                          raspi-firmware and linux-image-arm64, as Debian's own Pi images (no
#                          Raspberry Pi archive, no key; no Pi 5: bookworm's kernel lacks it)
#   --mirror URL           Debian's archive (default http://deb.debian.org/debian)
#   --security-mirror URL  Debian's security archive (default http://deb.debian.org/debian-security)
#   --rpi-mirror URL       Raspberry Pi's archive (default http://archive.raspberrypi.com/debian)
#   --rpi-keyring FILE     its signing key (/usr/share/keyrings/raspberrypi-archive-keyring.gpg from
#                          the raspberrypi-archive-keyring package); needed for --target raspberrypi
#   --hostname NAME        default madoguchi (the setup screen names the device at pairing)
#   --no-recommends        install the package without its Recommends (pcscd, cups...): the tests
#   --apt-cache DIR        keep the downloaded .debs in DIR and reuse them next time
#   --format dir|tar       the root filesystem as a directory (default; root only) or a tarball
#   --img                  also make DIR/madoguchi-<arch>.img (boot FAT + root ext4: make-img.sh)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
arch="" deb="" out="" target="" hostname="madoguchi" recommends=yes cache="" format=dir img=no
mirror="http://deb.debian.org/debian"
security="http://deb.debian.org/debian-security"
rpi_mirror="http://archive.raspberrypi.com/debian"
rpi_keyring=""
suite=bookworm

die() { echo "build.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="${2:?}"; shift 2 ;;
    --deb) deb="${2:?}"; shift 2 ;;
    --out) out="${2:?}"; shift 2 ;;
    --target) target="${2:?}"; shift 2 ;;
    --mirror) mirror="${2:?}"; shift 2 ;;
    --security-mirror) security="${2:?}"; shift 2 ;;
    --rpi-mirror) rpi_mirror="${2:?}"; shift 2 ;;
    --rpi-keyring) rpi_keyring="${2:?}"; shift 2 ;;
    --hostname) hostname="${2:?}"; shift 2 ;;
    --no-recommends) recommends=no; shift ;;
    --apt-cache) cache="${2:?}"; shift 2 ;;
    --format) format="${2:?}"; shift 2 ;;
    --img) img=yes; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (--help)" ;;
  esac
done

[ -n "$arch" ] && [ -n "$deb" ] && [ -n "$out" ] || die "--arch, --deb and --out are required (--help)"
case "$arch" in amd64|arm64) ;; *) die "--arch: amd64 or arm64, not $arch" ;; esac
[ -f "$deb" ] || die "no such package: $deb"
deb_arch="$(dpkg-deb -f "$deb" Architecture)"
[ "$deb_arch" = "$arch" ] || [ "$deb_arch" = all ] || die "$deb is for $deb_arch, not $arch: build the package on an $arch machine"
[ -n "$target" ] || { [ "$arch" = arm64 ] && target=raspberrypi || target=debian; }
case "$target" in
  debian|raspberrypi) ;;
  debian-pi) [ "$arch" = arm64 ] || die "--target debian-pi is for --arch arm64" ;;
  *) die "--target: debian, raspberrypi or debian-pi, not $target" ;;
esac
case "$format" in dir|tar) ;; *) die "--format: dir or tar" ;; esac
if [ "$format" = dir ] && [ "$(id -u)" -ne 0 ]; then
  die "--format dir needs root (chroot); unprivileged, use --format tar (mmdebstrap --mode=unshare)"
fi
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: scripts/ensure-package-deps.sh installs it"

native="$(dpkg --print-architecture)"
if [ "$arch" != "$native" ]; then
  qemu="$( [ "$arch" = arm64 ] && echo aarch64 || echo x86_64 )"
  if [ ! -e "/proc/sys/fs/binfmt_misc/qemu-$qemu" ]; then
    die "$arch on this $native machine needs qemu-user-static registered with binfmt_misc
(not available here). Build the $arch root filesystem and image on an $arch machine
(a Raspberry Pi 4/5 or an arm64 CI runner): the same command, natively."
  fi
fi

mkdir -p "$out"
out="$(cd "$out" && pwd)"
deb="$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"
rm -rf "$out/rootfs" "$out/rootfs.tar" "$out/timings"

# Packages on top of the package's own dependencies: a booting system with systemd and udev,
# the zone database, TLS roots for the office's HTTPS.
include="systemd-sysv,udev,tzdata,ca-certificates,apt-transport-https,iproute2,systemd-timesyncd"
components="main,contrib"
mirrors=(
  "deb $mirror $suite main contrib"
  "deb $mirror $suite-updates main contrib"
  "deb $security $suite-security main contrib"
)
keyring_args=()
if [ "$target" = raspberrypi ]; then
  [ -n "$rpi_keyring" ] || die "--target raspberrypi needs --rpi-keyring FILE (Raspberry Pi's archive key)"
  # Raspberry Pi OS Lite: Debian's main, contrib, non-free, non-free-firmware and Raspberry Pi's
  # archive (kernel, firmware, Mesa for the VideoCore, raspi-config).
  mirrors=(
    "deb $mirror $suite main contrib non-free non-free-firmware"
    "deb $mirror $suite-updates main contrib non-free non-free-firmware"
    "deb $security $suite-security main contrib non-free non-free-firmware"
    "deb $rpi_mirror $suite main"
  )
  keys="$(mktemp -d)"
  trap 'rm -rf "$keys"' EXIT
  cp /usr/share/keyrings/debian-archive-keyring.gpg "$keys/"
  cp "$rpi_keyring" "$keys/raspberrypi-archive-keyring.gpg"
  keyring_args=(--keyring="$keys")
  include="$include,raspberrypi-archive-keyring,raspberrypi-sys-mods,raspi-firmware"
  include="$include,linux-image-rpi-v8,linux-image-rpi-2712,initramfs-tools,rpi-eeprom,raspi-config"
  include="$include,firmware-brcm80211,network-manager,wpasupplicant,openssh-server,sudo"
  include="$include,fake-hwclock,dosfstools,parted,locales,less,nano"
fi

if [ "$target" = debian-pi ]; then
  # Debian's own Raspberry Pi images (raspi.debian.net) from Debian's archive only: the boot
  # firmware (raspi-firmware, non-free-firmware) and Debian's arm64 kernel with the upstream
  # device trees, which raspi-firmware's kernel hook copies to /boot/firmware with config.txt
  # and cmdline.txt (the Pi hook sets what they say). Pi 3, Pi 4, Pi 400, CM4; not the Pi 5.
  # cloud-guest-utils: growpart, for the first-boot growth of the root partition (the Pi hook).
  mirrors=(
    "deb $mirror $suite main contrib non-free-firmware"
    "deb $mirror $suite-updates main contrib non-free-firmware"
    "deb $security $suite-security main contrib non-free-firmware"
  )
  include="$include,raspi-firmware,linux-image-arm64,initramfs-tools,firmware-brcm80211"
  include="$include,network-manager,wpasupplicant,openssh-server,sudo,fake-hwclock"
  include="$include,dosfstools,parted,fdisk,e2fsprogs,cloud-guest-utils,locales,less,nano"
fi

cache_args=()
if [ -n "$cache" ]; then
  mkdir -p "$cache"
  cache="$(cd "$cache" && pwd)"
  # mmdebstrap's documented way to reuse downloads without a proxy (man mmdebstrap, sync-in/out).
  cache_args=(
    --skip=essential/unlink
    --setup-hook="mkdir -p \"\$1/var/cache/apt/archives/\""
    --setup-hook="sync-in $cache /var/cache/apt/archives/"
  )
fi

mode_args=()
[ "$(id -u)" -eq 0 ] || mode_args=(--mode=unshare)
if [ "$format" = dir ]; then target_path="$out/rootfs"; else target_path="$out/rootfs.tar"; fi

export MADOGUCHI_DEB_NAME="$(basename "$deb")"
export MADOGUCHI_RECOMMENDS="$recommends"
export MADOGUCHI_HOSTNAME="$hostname"
export MADOGUCHI_TARGET="$target"

start=$(date +%s.%N)
hooks_after=(--customize-hook="download /tmp/madoguchi/timings $out/timings")
[ -z "$cache" ] || hooks_after+=(--customize-hook="sync-out /var/cache/apt/archives $cache")
mmdebstrap \
  "${mode_args[@]}" \
  --variant=minbase \
  --architectures="$arch" \
  --components="$components" \
  --include="$include" \
  "${keyring_args[@]}" \
  "${cache_args[@]}" \
  --customize-hook='mkdir -p "$1/tmp/madoguchi"' \
  --customize-hook="upload $deb /tmp/madoguchi/$MADOGUCHI_DEB_NAME" \
  --hook-directory="$here/hooks" \
  "${hooks_after[@]}" \
  "$suite" "$target_path" "${mirrors[@]}"
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "rootfs_s=%.1f\n", e - s }' >> "$out/timings"

if [ "$img" = yes ]; then
  [ "$format" = dir ] || die "--img needs --format dir"
  "$here/make-img.sh" "$out/rootfs" "$out/madoguchi-$arch.img"
fi
cat "$out/timings"
