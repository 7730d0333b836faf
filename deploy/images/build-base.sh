#!/usr/bin/env bash
# Build helpline-base:bookworm: Debian bookworm from debootstrap with Python 3.11 and venv, taken
# from the Debian mirror this machine's apt already uses (no image registry involved).
# Skips the build when the image exists. Needs root, debootstrap and a running engine.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
IMAGE="${HELPLINE_BASE_IMAGE:-helpline-base:bookworm}"
SUITE=bookworm
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE exists"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap missing: apt-get install debootstrap" >&2; exit 1; }
read -r MIRROR SECURITY < <(python3 "$HERE/apt_mirror.py" "$SUITE")
ROOTFS="$(mktemp -d)"
trap 'rm -rf "$ROOTFS"' EXIT
echo "debootstrap $SUITE into $ROOTFS" >&2
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  "$SUITE" "$ROOTFS" "$MIRROR" >&2
{
  echo "deb $MIRROR $SUITE main"
  echo "deb $MIRROR $SUITE-updates main"
  [ -z "$SECURITY" ] || echo "deb $SECURITY $SUITE-security main"
} >"$ROOTFS/etc/apt/sources.list"
# Keep the image small: no apt lists or caches, and no docs or man pages now or from later
# apt-get installs (the folders stay: some packages' scripts link into them).
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/helpline-excludes" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
CFG
find "$ROOTFS/usr/share/doc" -type f ! -name copyright -delete
find "$ROOTFS/usr/share/man" "$ROOTFS/usr/share/info" -type f -delete
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin \
  "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/log/*.log
tar -C "$ROOTFS" --numeric-owner -c . | docker import \
  --change 'ENV LANG=C.UTF-8' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' - "$IMAGE"
