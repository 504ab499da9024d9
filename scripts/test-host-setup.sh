#!/usr/bin/env bash
# What the end-to-end tests need on this machine (Debian 12, run as root), installed only
# when missing, so `npm test` works on a fresh machine and costs nothing on a prepared one:
#   - lxc (lxc-execute, lxc-info) and uidmap: real containers;
#   - busybox-static (host and armhf): runnable rootfs archives;
#   - qemu-user-static + binfmt-support: the armhf container;
#   - xz-utils, bzip2, zstd: compressed archives; fakeroot; util-linux (setpriv);
#   - root's subordinate ids 100000-165535 in /etc/subuid and /etc/subgid: with newuidmap
#     installed, liblxc maps ids through it, even for root.
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "test-host-setup: the end-to-end tests start containers and need root" >&2
  exit 1
fi

pkgs=""
have() { command -v "$1" >/dev/null 2>&1; }
have lxc-execute || pkgs="$pkgs lxc"
have newuidmap || pkgs="$pkgs uidmap"
dpkg -s busybox-static >/dev/null 2>&1 || pkgs="$pkgs busybox-static"
[ -e /usr/share/binfmts/qemu-arm ] || pkgs="$pkgs qemu-user-static"
have update-binfmts || pkgs="$pkgs binfmt-support"
have xz || pkgs="$pkgs xz-utils"
have bzip2 || pkgs="$pkgs bzip2"
have zstd || pkgs="$pkgs zstd"
have fakeroot || pkgs="$pkgs fakeroot"
have setpriv || pkgs="$pkgs util-linux"
have mknod || pkgs="$pkgs coreutils"

cache=test/.cache
armhf_missing=0
[ -s "$cache/busybox-armhf" ] || armhf_missing=1

if [ -n "$pkgs" ] || [ "$armhf_missing" = 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  dpkg --print-foreign-architectures | grep -qx armhf || dpkg --add-architecture armhf
  # a mirror being synced can fail one index; what we need is checked right after
  apt-get update -q || apt-get update -q || true
  if [ -n "$pkgs" ]; then
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $pkgs
  fi
fi

if [ "$armhf_missing" = 1 ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download busybox-static:armhf)
  dpkg -x "$tmp"/busybox-static_*_armhf.deb "$tmp/x"
  cp "$tmp/x/bin/busybox" "$cache/busybox-armhf"
  rm -rf "$tmp"
fi

for f in /etc/subuid /etc/subgid; do
  grep -qs '^root:100000:65536$' "$f" || echo 'root:100000:65536' >> "$f"
done
