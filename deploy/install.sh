#!/usr/bin/env bash
# Install virt-balancer as a systemd service.
#   sudo deploy/install.sh                 # onto this machine
#   deploy/install.sh --destdir /tmp/root  # lay it out under a staging root (packaging, tests)
# Lays out: /opt/virt-balancer (dist/, policies, node_modules for production), the unit in
# /etc/systemd/system, an example config in /etc/virt-balancer/config.yaml (never overwritten),
# and a system user "virt-balancer" in group libvirt.
set -euo pipefail
DESTDIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --destdir) DESTDIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (use --destdir DIR)" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (sudo deploy/install.sh), or pass --destdir DIR to stage the files" >&2
  exit 1
fi

npx tsc -p tsconfig.json
prefix="$DESTDIR/opt/virt-balancer"
mkdir -p "$prefix" "$DESTDIR/etc/systemd/system" "$DESTDIR/etc/virt-balancer"
rm -rf "$prefix/dist"
cp -r dist "$prefix/dist"
cp package.json package-lock.json "$prefix/"
(cd "$prefix" && npm ci --omit=dev --no-audit --no-fund --ignore-scripts >/dev/null)
install -m 0644 deploy/systemd/virt-balancer.service "$DESTDIR/etc/systemd/system/virt-balancer.service"
if [ ! -e "$DESTDIR/etc/virt-balancer/config.yaml" ]; then
  install -m 0640 deploy/config/virt-balancer.example.yaml "$DESTDIR/etc/virt-balancer/config.yaml"
fi

if [ -z "$DESTDIR" ]; then
  getent group libvirt >/dev/null || groupadd --system libvirt
  id virt-balancer >/dev/null 2>&1 || useradd --system --home-dir /var/lib/virt-balancer --shell /usr/sbin/nologin --groups libvirt virt-balancer
  chgrp virt-balancer /etc/virt-balancer/config.yaml
  systemctl daemon-reload
  echo "Installed. Edit /etc/virt-balancer/config.yaml, then: systemctl enable --now virt-balancer"
else
  echo "Staged under $DESTDIR"
fi
