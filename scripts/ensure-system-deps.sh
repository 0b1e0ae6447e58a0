#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, when they are missing.
#   mosquitto                   the production broker; tests start their own on a free loopback port
#   xvfb, libgl1-mesa-dri       a virtual screen with software OpenGL for rendering the Kivy apps
#   fonts-noto-cjk              Japanese (and Chinese, Korean, Vietnamese) glyphs for screens and tickets
#   espeak-ng                   offline speech for English, Chinese, Korean, Vietnamese, Portuguese
#   open-jtalk, open-jtalk-mecab-naist-jdic
#                               offline Japanese speech (the dictionary pyopenjtalk reads offline)
#   cmake, g++                  pyopenjtalk (the speech extra) builds from source
#   libmtdev1                   multitouch input for Kivy on touch screens
#   x11-utils                   xdpyinfo (the demo sizes its windows to the screen), xwininfo (the tests
#                               check where the windows opened)
#   chromium                    the browser tests of the staff console and the resident page (Playwright
#                               drives it; nothing is downloaded at test time)
#   postgresql                  the ward's central store; tests start their own cluster on a free port
set -euo pipefail

wanted=(mosquitto xvfb libgl1-mesa-dri fonts-noto-cjk espeak-ng open-jtalk open-jtalk-mecab-naist-jdic cmake g++ libmtdev1 x11-utils chromium postgresql)
missing=()
for pkg in "${wanted[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done

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
