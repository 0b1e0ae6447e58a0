#!/usr/bin/env bash
# The madoguchi .deb for another architecture (arm64 on an amd64 machine), built the way
# `make deb` builds it, but inside a Debian bookworm chroot of that architecture run under
# qemu-user-static: the venv's compiled wheels (Kivy, cryptography, msgspec...) and pyscard's
# build are then the arm64 ones, and ${shlibs:Depends} comes from arm64 libraries.
# `make deb-arm64` runs it; docs/packaging.md gives the figures.
#
#   deploy/image/deb-chroot.sh --arch arm64 --chroot DIR --out DIR [--apt-cache DIR] -- PATH...
#
#   --arch ARCH        the package's architecture (a Debian one: arm64, armhf...)
#   --chroot DIR       the build chroot; made with mmdebstrap when DIR does not exist yet, kept
#                      afterwards (delete it to start over). Build-Depends plus git
#   --out DIR          where madoguchi_<version>_<arch>.deb goes (dist)
#   --apt-cache DIR    keep the chroot's downloaded .debs in DIR (mmdebstrap sync-in/out)
#   PATH...            the package's sources (the Makefile's DEB_PATHS): git ls-files -co
#                      --exclude-standard copies them, as they are in the working tree, into
#                      DIR/build/madoguchi-<version>/ inside the chroot
#
# Needs root (chroot, mounts), and for a foreign architecture qemu-user-static registered with
# binfmt_misc, and arch-test (mmdebstrap checks the architecture runs):
#   apt-get install qemu-user-static binfmt-support arch-test
#   mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc   # when it is not mounted
#   update-binfmts --enable qemu-aarch64
# The chroot gets /proc, /sys and /dev bound from the host (unmounted afterwards, whatever
# happened), the host's resolv.conf and local CAs: pip fetches the wheels from PyPI.
set -euo pipefail

die() { echo "deb-chroot.sh: $*" >&2; exit 2; }
arch="" chroot_dir="" out="" cache=""
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="${2:?}"; shift 2 ;;
    --chroot) chroot_dir="${2:?}"; shift 2 ;;
    --out) out="${2:?}"; shift 2 ;;
    --apt-cache) cache="${2:?}"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (--help)" ;;
  esac
done
[ -n "$arch" ] && [ -n "$chroot_dir" ] && [ -n "$out" ] && [ $# -gt 0 ] \
  || die "--arch, --chroot, --out and the source paths after -- are required (--help)"
[ "$(id -u)" -eq 0 ] || die "needs root (chroot and bind mounts)"
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: scripts/ensure-package-deps.sh installs it"
[ -f setup.cfg ] && [ -f debian/changelog ] || die "run it from the repository's top directory"

native="$(dpkg --print-architecture)"
if [ "$arch" != "$native" ]; then
  command -v arch-test >/dev/null || die "apt-get install qemu-user-static binfmt-support arch-test"
  arch-test "$arch" >/dev/null 2>&1 || die "$arch programs do not run here: qemu-user-static registered
with binfmt_misc is needed (apt-get install qemu-user-static binfmt-support; mount binfmt_misc on
/proc/sys/fs/binfmt_misc; update-binfmts --enable qemu-<cpu>). Or build natively: make deb."
fi

version="$(sed -n 's/^version *= *//p' setup.cfg)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

if [ ! -d "$chroot_dir" ]; then
  cache_args=()
  if [ -n "$cache" ]; then
    mkdir -p "$cache"
    cache="$(cd "$cache" && pwd)"
    cache_args=(
      --skip=essential/unlink
      --setup-hook="mkdir -p \"\$1/var/cache/apt/archives/\""
      --setup-hook="sync-in $cache /var/cache/apt/archives/"
      --customize-hook="sync-out /var/cache/apt/archives $cache"
    )
  fi
  start=$(date +%s)
  # Build-Depends of debian/control, and git; libgl1, libx11-6, libxrender1: Kivy's compiled
  # modules link them, and dh_shlibdeps fails when it cannot find them (debian/control does not
  # list them; a developer's amd64 machine has them anyway).
  mmdebstrap --variant=buildd --architectures="$arch" \
    --include=debhelper,dh-virtualenv,python3,python3-venv,python3-dev,libpcsclite-dev,swig,git,ca-certificates,dpkg-dev,build-essential,libgl1,libx11-6,libxrender1 \
    "${cache_args[@]}" \
    bookworm "$chroot_dir" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main"
  echo "deb-chroot.sh: chroot made in $(( $(date +%s) - start )) s"
fi
chroot_dir="$(cd "$chroot_dir" && pwd)"

mounted=()
cleanup() {
  local i
  for (( i=${#mounted[@]}-1; i>=0; i-- )); do umount "${mounted[$i]}" || umount -l "${mounted[$i]}" || true; done
}
trap cleanup EXIT
for m in proc sys dev dev/pts; do
  mountpoint -q "$chroot_dir/$m" && continue
  mkdir -p "$chroot_dir/$m"
  case "$m" in
    proc) mount -t proc proc "$chroot_dir/proc" ;;
    sys) mount -t sysfs sysfs "$chroot_dir/sys" ;;
    dev) mount --bind /dev "$chroot_dir/dev" ;;
    dev/pts) mount -t devpts -o newinstance,ptmxmode=0666 devpts "$chroot_dir/dev/pts" ;;
  esac
  mounted+=("$chroot_dir/$m")
done
cp -L /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
# The host's local certificate authorities (a TLS-inspecting proxy's, a company's) are trusted in
# the chroot too, so pip reaches PyPI the way the host does.
ca_changed=no
for ca in /usr/local/share/ca-certificates/*.crt; do
  [ -f "$ca" ] || continue
  if ! cmp -s "$ca" "$chroot_dir$ca"; then
    install -D -m 0644 "$ca" "$chroot_dir$ca"
    ca_changed=yes
  fi
done
[ "$ca_changed" = no ] || chroot "$chroot_dir" update-ca-certificates >/dev/null

tree="/build/madoguchi-$version"
rm -rf "$chroot_dir/build"
mkdir -p "$chroot_dir$tree"
git ls-files -co --exclude-standard -z -- "$@" \
  | tar --null --ignore-failed-read -cf - -T - 2>/dev/null | tar -xf - -C "$chroot_dir$tree"

start=$(date +%s)
chroot "$chroot_dir" env -i HOME=/root LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  sh -c "cd $tree && dpkg-buildpackage -b -us -uc"
echo "deb-chroot.sh: dpkg-buildpackage took $(( $(date +%s) - start )) s"

deb="madoguchi_${version}_$arch.deb"
mv "$chroot_dir/build/$deb" "$out/$deb"
ls -l "$out/$deb"
