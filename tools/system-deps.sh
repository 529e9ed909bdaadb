#!/usr/bin/env bash
# Installs the Debian packages the test harness runs for real, only when one is missing.
set -euo pipefail

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto mosquitto-clients)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
[ -e /usr/lib/x86_64-linux-gnu/girepository-1.0/GstRtspServer-1.0.typelib ] \
  || ls /usr/lib/*/girepository-1.0/GstRtspServer-1.0.typelib >/dev/null 2>&1 \
  || need+=(gir1.2-gst-rtsp-server-1.0)
/usr/bin/python3 -c 'import gi' >/dev/null 2>&1 || need+=(python3-gi python3-gst-1.0)
for pkg in gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
           gstreamer1.0-plugins-ugly gstreamer1.0-libav python3-gst-1.0; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "system-deps: installing ${need[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${need[@]}"
