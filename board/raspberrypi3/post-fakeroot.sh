#!/bin/sh
# Buildroot post-fakeroot script (BR2_ROOTFS_POST_FAKEROOT_SCRIPT): gives the container
# rootfs trees the owners the idmap asks for, inside fakeroot.
set -eu
# shellcheck source=board/raspberrypi3/thunderbox-run.sh
. "$(dirname "$0")/thunderbox-run.sh"
thunderbox_run buildroot post-fakeroot "$@"
