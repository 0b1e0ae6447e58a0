#!/bin/sh
# mmdebstrap customize hook ($1 = the root filesystem): what every lobby device image has.
#   - the first-boot setup screen enabled (the package ships madoguchi-setup.service disabled;
#     it never runs once the device is paired: ConditionPathExists=!…/identity/current)
#   - hostname (the setup screen renames the device when it is paired), /etc/hosts
#   - the town's time zone, Asia/Tokyo (the business day is Japanese local time)
set -eu
root="$1"
hostname="${MADOGUCHI_HOSTNAME:-madoguchi}"

chroot "$root" systemctl enable madoguchi-setup.service

echo "$hostname" > "$root/etc/hostname"
cat > "$root/etc/hosts" <<HOSTS
127.0.0.1	localhost
127.0.1.1	$hostname
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
HOSTS

ln -sf /usr/share/zoneinfo/Asia/Tokyo "$root/etc/localtime"
echo Asia/Tokyo > "$root/etc/timezone"

