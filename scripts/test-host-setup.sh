#!/usr/bin/env bash
# What the end-to-end tests need on this machine (Debian 12, run as root), installed only
# when missing, so `npm test` works on a fresh machine and costs nothing on a prepared one:
#   - lxc (lxc-execute, lxc-info) and uidmap: real containers;
#   - busybox-static (host and armhf): runnable rootfs archives;
#   - libc6 for armhf, armel and arm64, unpacked (not installed) under test/.cache/deb-ARCH,
#     and binutils (readelf): real foreign ELF files for the ELF reader's tests;
#   - qemu-user-static + binfmt-support: the armhf container;
#   - xz-utils, bzip2, zstd: compressed archives; fakeroot; util-linux (setpriv); strace (its
#     fault injection kills a run at one chosen syscall);
#   - linux-source-6.1, gcc, make, flex, bison: the kernel's own kconfig (kconfig lint --kernel-src);
#   - qemu-system-x86 and Debian's kernel (test/.cache/vmlinuz: /boot's, else unpacked from the
#     linux-image-amd64 package): a booted kernel with cgroup v2 for the v2 limits' real start;
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
# command -> the Debian package that has it
for pair in lxc-execute:lxc newuidmap:uidmap update-binfmts:binfmt-support xz:xz-utils \
  bzip2:bzip2 zstd:zstd fakeroot:fakeroot setpriv:util-linux flex:flex bison:bison gcc:gcc \
  make:make readelf:binutils qemu-system-x86_64:qemu-system-x86 shellcheck:shellcheck iptables:iptables ip:iproute2 sysctl:procps setcap:libcap2-bin strace:strace; do
  have "${pair%%:*}" || pkgs="$pkgs ${pair#*:}"
done
dpkg -s busybox-static >/dev/null 2>&1 || pkgs="$pkgs busybox-static"
[ -e /usr/share/binfmts/qemu-arm ] || pkgs="$pkgs qemu-user-static"
[ -e /usr/src/linux-source-6.1.tar.xz ] || pkgs="$pkgs linux-source-6.1"

cache=test/.cache
armhf_missing=0
[ -s "$cache/busybox-armhf" ] || armhf_missing=1
# libc6 of each foreign architecture, unpacked (armhf and arm64 with libc-bin too, for its
# dynamic programs such as getconf: a Debian-like rootfs of the Pi's architectures); a .done-2
# stamp marks a complete unpack
debs_missing=""
for arch in armhf armel arm64; do
  [ -e "$cache/deb-$arch/.done-2" ] || debs_missing="$debs_missing $arch"
done

if [ -n "$pkgs" ] || [ "$armhf_missing" = 1 ] || [ -n "$debs_missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  for arch in armhf armel arm64; do
    dpkg --print-foreign-architectures | grep -qx "$arch" || dpkg --add-architecture "$arch"
  done
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

for arch in $debs_missing; do
  mkdir -p "$cache"
  tmp=$(mktemp -d)
  pkgs_arch="libc6:$arch"
  [ "$arch" = armel ] || pkgs_arch="$pkgs_arch libc-bin:$arch"
  # shellcheck disable=SC2086
  (cd "$tmp" && apt-get download $pkgs_arch)
  rm -rf "$cache/deb-$arch"
  for deb in "$tmp"/*_"$arch".deb; do dpkg -x "$deb" "$cache/deb-$arch"; done
  touch "$cache/deb-$arch/.done-2"
  rm -rf "$tmp"
done

# A real kernel tree for `kconfig lint --kernel-src`: only what kconfig reads (the Kconfig and
# Makefile files, scripts/, include/, the defconfigs), not the 1.3 GB of sources.
ksrc="$cache/linux-source-6.1"
if [ ! -e "$ksrc/Kconfig" ]; then
  mkdir -p "$cache"
  rm -rf "$ksrc.tmp" && mkdir "$ksrc.tmp"
  tar -xf /usr/src/linux-source-6.1.tar.xz -C "$ksrc.tmp" --wildcards \
    '*/Kconfig*' '*Makefile*' '*Kbuild*' 'linux-source-6.1/scripts/*' 'linux-source-6.1/arch/*/configs/*' \
    'linux-source-6.1/include/*' 'linux-source-6.1/arch/*/include/*' 'linux-source-6.1/tools/*'
  mv "$ksrc.tmp/linux-source-6.1" "$ksrc" && rm -rf "$ksrc.tmp"
fi

# Debian's kernel for the cgroup v2 start under qemu-system-x86_64 (test/e2e/limits-v2.test.ts):
# this machine's, else the one linux-image-amd64 depends on, unpacked from its package
if [ ! -s "$cache/vmlinuz" ]; then
  mkdir -p "$cache"
  # shellcheck disable=SC2012
  boot=$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$boot" ]; then
    cp "$boot" "$cache/vmlinuz.tmp"
  else
    tmp=$(mktemp -d)
    image=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)
    (cd "$tmp" && apt-get download "$image")
    dpkg -x "$tmp"/linux-image-*.deb "$tmp/x"
    cp "$tmp"/x/boot/vmlinuz-* "$cache/vmlinuz.tmp"
    rm -rf "$tmp"
  fi
  mv "$cache/vmlinuz.tmp" "$cache/vmlinuz"
fi

for f in /etc/subuid /etc/subgid; do
  grep -qs '^root:100000:65536$' "$f" || echo 'root:100000:65536' >> "$f"
done
