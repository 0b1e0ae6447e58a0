#!/bin/sh
# mmdebstrap customize hook ($1 = the root filesystem): install the madoguchi .deb with apt, so
# its dependencies come from the image's mirrors as they would on a device.
# build.sh uploads the package to /tmp/madoguchi/$MADOGUCHI_DEB_NAME first. The seconds the
# install took go to /tmp/madoguchi/timings (build.sh downloads it: bench/install_bench.py).
set -eu
root="$1"
deb="/tmp/madoguchi/${MADOGUCHI_DEB_NAME:?build.sh sets MADOGUCHI_DEB_NAME}"
recommends="${MADOGUCHI_RECOMMENDS:-yes}"
if [ "$recommends" = yes ]; then rec=--install-recommends; else rec=--no-install-recommends; fi

start=$(date +%s.%N)
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$rec" \
    -o Dpkg::Use-Pty=0 "$deb"
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "install_s=%.1f\n", e - s }' >> "$root/tmp/madoguchi/timings"
rm -f "$root$deb"
