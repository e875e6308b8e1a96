#!/usr/bin/env bash
# Install virt-balancer as a systemd service.
#   sudo deploy/install.sh                   # onto this machine (also: npm run install:system)
#   deploy/install.sh --destdir /tmp/root    # stage under a root directory (packaging, tests);
#                                            # DESTDIR=/tmp/root works too
#   --no-build                               # install the ./dist that is there (npm run build)
# Lays out:
#   /opt/virt-balancer/{dist,package.json,node_modules}   compiled code, built-in policies, production deps
#   /opt/virt-balancer/bin/virt-balancer.mjs              the command (tsx registered for TypeScript policies),
#   /usr/local/bin/virt-balancer                          linked here
#   /opt/virt-balancer/docs                               deploy, troubleshooting and reference docs
#   /etc/systemd/system/virt-balancer.service             the hardened unit
#   /usr/lib/sysusers.d/virt-balancer.conf                system user virt-balancer, member of libvirt
#   /etc/virt-balancer/config.yaml                        example config (an existing one is kept)
#   /etc/virt-balancer/policies/                          custom policies (policy.policyDirs)
#   /etc/virt-balancer/node_modules/virt-balancer         -> /opt/virt-balancer, so a custom policy's
#                                                         `import ... from 'virt-balancer/policy'` resolves
# Without --destdir it then creates the user, fixes ownership and runs systemctl daemon-reload.
set -euo pipefail
DESTDIR="${DESTDIR:-}"
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --destdir) [ $# -ge 2 ] || { echo "install.sh: --destdir needs a directory" >&2; exit 2; }; DESTDIR="$2"; shift 2 ;;
    --destdir=*) DESTDIR="${1#--destdir=}"; shift ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (use --destdir DIR, --no-build)" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (sudo deploy/install.sh), or pass --destdir DIR to stage the files" >&2
  exit 1
fi
if [ -n "$DESTDIR" ]; then
  mkdir -p "$DESTDIR"
  DESTDIR="$(cd "$DESTDIR" && pwd)"
fi

build=dist
if [ "$BUILD" = 1 ]; then
  [ -x node_modules/.bin/tsc ] || npm ci --no-audit --no-fund
  # A fresh build of its own, so nothing stale from ./dist is installed (and ./dist is left alone).
  build="$(mktemp -d)"
  trap 'rm -rf "$build"' EXIT
  node_modules/.bin/tsc -p tsconfig.json --outDir "$build"
fi
[ -f "$build/src/cli/main.js" ] || { echo "install.sh: $build/src/cli/main.js missing: run npm run build (or drop --no-build)" >&2; exit 1; }

opt="$DESTDIR/opt/virt-balancer"
etc="$DESTDIR/etc/virt-balancer"
mkdir -p "$opt/bin" "$DESTDIR/usr/local/bin" "$DESTDIR/etc/systemd/system" "$DESTDIR/usr/lib/sysusers.d" "$etc/policies" "$etc/node_modules"
rm -rf "$opt/dist"
# Only what runs: the CLI and its modules, the built-in policies (tests and benches stay behind).
mkdir -p "$opt/dist"
cp -r "$build/src" "$build/policies" "$opt/dist/"
cp package.json package-lock.json "$opt/"
# The operator's docs, which the unit's Documentation= points at.
mkdir -p "$opt/docs"
cp docs/deploy.md docs/troubleshooting.md docs/config-reference.md docs/metrics.md docs/cli.md docs/policies.md "$opt/docs/"
# Production dependencies only; --prefer-offline reuses the npm cache the build filled.
(cd "$opt" && npm ci --omit=dev --no-audit --no-fund --ignore-scripts --prefer-offline --loglevel=error)
install -m 0755 deploy/bin/virt-balancer.mjs "$opt/bin/virt-balancer.mjs"
ln -sfn ../../../opt/virt-balancer/bin/virt-balancer.mjs "$DESTDIR/usr/local/bin/virt-balancer"
install -m 0644 deploy/systemd/virt-balancer.service "$DESTDIR/etc/systemd/system/virt-balancer.service"
install -m 0644 deploy/systemd/virt-balancer.sysusers "$DESTDIR/usr/lib/sysusers.d/virt-balancer.conf"
if [ ! -e "$etc/config.yaml" ]; then
  install -m 0640 deploy/config/virt-balancer.example.yaml "$etc/config.yaml"
fi
# Relative, so the link is right both under DESTDIR and once installed.
ln -sfn ../../../opt/virt-balancer "$etc/node_modules/virt-balancer"

if [ -z "$DESTDIR" ]; then
  if command -v systemd-sysusers >/dev/null; then
    systemd-sysusers /usr/lib/sysusers.d/virt-balancer.conf
  else
    getent group libvirt >/dev/null || groupadd --system libvirt
    id virt-balancer >/dev/null 2>&1 || useradd --system --home-dir /var/lib/virt-balancer --shell /usr/sbin/nologin --user-group --groups libvirt virt-balancer
  fi
  chgrp virt-balancer /etc/virt-balancer /etc/virt-balancer/config.yaml
  chmod 0750 /etc/virt-balancer
  systemctl daemon-reload
  echo "Installed. Edit /etc/virt-balancer/config.yaml, check it with"
  echo "  sudo -u virt-balancer virt-balancer check-config --config /etc/virt-balancer/config.yaml"
  echo "then: systemctl enable --now virt-balancer"
else
  echo "Staged under $DESTDIR"
fi
