#!/usr/bin/env bash
# The base image the Dockerfile names (python:3.11-slim), made here when no registry can be
# reached: Debian bookworm (its python3 is 3.11) by debootstrap, imported into podman under
# that name. Reused when it exists. Needs root, debootstrap and podman (.ci/run installs them).
set -euo pipefail
NAME=docker.io/library/python:3.11-slim
if podman image exists "$NAME"; then
  echo "base image $NAME: present"
  exit 0
fi
MIRROR=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOT=$(mktemp -d /tmp/eventshop-base.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
echo "base image $NAME: debootstrap from $MIRROR (about a minute)"
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
  bookworm "$ROOT" "$MIRROR" >/dev/null
rm -f "$ROOT"/usr/lib/python3.11/EXTERNALLY-MANAGED
ln -sf python3 "$ROOT/usr/bin/python"
# Package downloads here go through this machine's CA: the image trusts the same one.
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$ROOT/etc/pip.conf"
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*
tar -C "$ROOT" -c . | podman import - "$NAME" >/dev/null
echo "base image $NAME: made"
