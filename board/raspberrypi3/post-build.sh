#!/bin/sh
# Buildroot post-build script (BR2_ROOTFS_POST_BUILD_SCRIPT): prepares the Thunder plugin
# containers of the manifest given in BR2_ROOTFS_POST_SCRIPT_ARGS (--manifest FILE).
set -eu
# shellcheck source=board/raspberrypi3/thunderbox-run.sh
. "$(dirname "$0")/thunderbox-run.sh"
thunderbox_run buildroot post-build "$@"
