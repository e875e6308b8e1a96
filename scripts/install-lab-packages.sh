#!/usr/bin/env bash
# Installs what the lab, the demo and the tests need, as root, idempotently:
#  - libvirt 11.3 and QEMU 10.0 from Debian's bookworm-backports suite on Debian 12 (the suite is
#    added the way the machine's own sources name the Debian mirror, and only the libvirt/QEMU
#    packages are pinned to it), or the distribution's own on newer releases;
#  - the rest from the release itself.
# Why the newer stack: QEMU 7.2's TCG corrupts guests in multi-round pre-copy (docs/lab-guest-crash.md),
# and users run libvirt 10-11 / QEMU 8-10 today.
#
#   bash scripts/install-lab-packages.sh            # the lab and the whole test suite (.ci/run, `npm test`)
#   bash scripts/install-lab-packages.sh --lab-only # the lab alone: the stack and the guest image's tools
#                                                   # (what `npm run demo` and `npm run lab -- up` install)
# The test suite adds Prometheus (promtool), etcd, sshd/openssl, tcpdump, iproute2's ss and
# libvirt's protocol definitions from its source package; the demo needs none of them.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

lab_only=false
case "${1:-}" in
  "") ;;
  --lab-only) lab_only=true ;;
  *) echo "install-lab-packages: unknown argument $1 (use --lab-only, or nothing for the whole test suite)" >&2; exit 2 ;;
esac

# The guest image (busybox, cpio, a gcc-built workload) and the hosts' namespaces (util-linux).
BASE_PACKAGES=(busybox-static cpio gcc libc6-dev util-linux ca-certificates)
# The test suite's own tools beyond the lab.
TEST_PACKAGES=(
  iproute2 prometheus systemd openssh-client openssh-server openssl netcat-openbsd
  tcpdump
  etcd-server etcd-client
)
$lab_only || BASE_PACKAGES+=("${TEST_PACKAGES[@]}")
# The virtualisation stack; on Debian 12 these come from bookworm-backports.
STACK_PACKAGES=(libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils)

[ "$(id -u)" = 0 ] || { echo "install-lab-packages: run as root (apt-get installs packages)" >&2; exit 1; }

codename=""
[ -r /etc/os-release ] && codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")

target=()
if [ "$codename" = bookworm ]; then
  # The mirror this machine already uses for Debian itself (deb822 or one-line sources).
  mirror=$(grep -hoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | grep -v -- '-security' | head -n1 | tr -d ' ' || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  cat >/etc/apt/sources.list.d/virt-balancer-backports.sources <<SRC
Types: deb deb-src
URIs: ${mirror%/}
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  # Only the stack (and the firmware its QEMU needs) follows backports on later upgrades.
  cat >/etc/apt/preferences.d/virt-balancer-backports <<'PIN'
Package: libvirt* qemu-* seabios ipxe-qemu
Pin: release n=bookworm-backports
Pin-Priority: 500
PIN
  target=(-t bookworm-backports)
fi

apt-get update -q
apt-get install -y -q --no-install-recommends "${BASE_PACKAGES[@]}"
apt-get install -y -q --no-install-recommends "${target[@]}" "${STACK_PACKAGES[@]}"

if $lab_only; then
  echo "install-lab-packages: $(libvirtd --version), $(qemu-system-x86_64 --version | head -n1) (the lab only)"
  exit 0
fi

# The installed libvirt's RPC protocol definitions (.x files) from Debian's source package:
# src/libvirt/generated/protocol.ts is generated from them (scripts/gen-libvirt-protocol.ts), and a
# unit test checks that regenerating gives the committed file. Only the upstream tarball is needed;
# apt-get may fail on the Debian parts (.dsc, patches) while still fetching it, so its presence is
# what counts.
source_cache=/var/cache/virt-balancer/libvirt-source
source_version=$(dpkg-query -W -f='${source:Version}' libvirt-daemon)
upstream_version=${source_version%%-*}
tarball="$source_cache/libvirt_${upstream_version}.orig.tar.xz"
mkdir -p "$source_cache"
if [ ! -s "$tarball" ]; then
  (cd "$source_cache" && apt-get source -q --download-only "libvirt=${source_version}") || true
fi
[ -s "$tarball" ] || { echo "install-lab-packages: could not fetch libvirt ${source_version}'s source (apt-get source libvirt, with the deb-src line of $(ls /etc/apt/sources.list.d/virt-balancer-backports.sources 2>/dev/null || echo 'the Debian sources'))" >&2; exit 1; }
rm -rf "$source_cache/current" "$source_cache/libvirt-${upstream_version}"
tar -xJf "$tarball" -C "$source_cache" "libvirt-${upstream_version}/meson.build" \
  "libvirt-${upstream_version}/src/remote/remote_protocol.x" "libvirt-${upstream_version}/src/rpc/virnetprotocol.x" "libvirt-${upstream_version}/src/rpc/virkeepaliveprotocol.x"
mv "$source_cache/libvirt-${upstream_version}" "$source_cache/current"

echo "install-lab-packages: $(libvirtd --version), $(qemu-system-x86_64 --version | head -n1), protocol definitions in $source_cache/current"
