#!/usr/bin/env bash
# Installs the Debian packages that `make deb`, the image recipe and `make test-package` need,
# when they are missing (the same way as scripts/ensure-system-deps.sh). All from Debian's archive.
#   dpkg-dev, debhelper, build-essential   dpkg-buildpackage and the dh sequence (compat 13)
#   dh-virtualenv                          builds the app's virtualenv into the package (/opt/venvs/madoguchi)
#   python3, python3-venv, python3-dev     the interpreter the venv is made with (Debian's: the one the device runs)
#   libpcsclite-dev, swig                  pyscard (the kiosk's card reader) compiles here, at package
#                                          build time, never on a device
#   libgl1, libx11-6, libxrender1          Kivy's compiled modules link them: dh_shlibdeps fails
#                                          when they are missing (a clean build machine or chroot)
#   mmdebstrap, debian-archive-keyring     the root filesystem of the image and of the package tests
#   reprepro, gnupg                        the office's signed apt repository (office/apt_repo.py)
#   dosfstools, mtools, fdisk, e2fsprogs   a Raspberry Pi .img from a root filesystem, without loop devices
#                                          (deploy/image/make-img.sh)
set -euo pipefail

wanted=(
  dpkg-dev debhelper build-essential dh-virtualenv
  python3 python3-venv python3-dev libpcsclite-dev swig libgl1 libx11-6 libxrender1
  mmdebstrap debian-archive-keyring
  reprepro gnupg
  dosfstools mtools fdisk e2fsprogs
)
missing=()
for pkg in "${wanted[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "madoguchi: missing packaging tools: ${missing[*]}" >&2
  echo "madoguchi: install them with:  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "madoguchi: installing packaging tools: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
