#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, when they are missing.
#   mosquitto       - the production broker; tests start their own on a free loopback port
#   xvfb            - a virtual screen for rendering the Kivy apps in tests
#   fonts-noto-cjk  - Japanese glyphs for screens and printed tickets
set -euo pipefail

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v Xvfb >/dev/null 2>&1 || missing+=(xvfb)
if ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
  [ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "madoguchi: missing system packages: ${missing[*]}" >&2
  echo "madoguchi: install them with:  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "madoguchi: installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian package may start a system broker on 1883; the project starts its own.
