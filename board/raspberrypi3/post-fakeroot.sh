#!/bin/sh
# Buildroot post-fakeroot script (BR2_ROOTFS_POST_FAKEROOT_SCRIPT): gives the container
# rootfs trees the owners the idmap asks for, inside fakeroot.
set -eu
if command -v thunderbox >/dev/null 2>&1; then
	exec thunderbox buildroot post-fakeroot "$@"
fi
if [ -n "${BR2_EXTERNAL_THUNDERBOX_PATH:-}" ] && [ -f "${BR2_EXTERNAL_THUNDERBOX_PATH}/bin/thunderbox.js" ]; then
	exec node "${BR2_EXTERNAL_THUNDERBOX_PATH}/bin/thunderbox.js" buildroot post-fakeroot "$@"
fi
echo "post-fakeroot.sh: thunderbox not found: install it on PATH (npm install -g), or use this repo as BR2_EXTERNAL (BR2_EXTERNAL_THUNDERBOX_PATH), with node and 'npm ci && npm run build' done there" >&2
exit 1
