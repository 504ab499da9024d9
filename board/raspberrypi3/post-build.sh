#!/bin/sh
# Buildroot post-build script (BR2_ROOTFS_POST_BUILD_SCRIPT): prepares the Thunder plugin
# containers of the manifest given in BR2_ROOTFS_POST_SCRIPT_ARGS (--manifest FILE).
set -eu
if command -v thunderbox >/dev/null 2>&1; then
	exec thunderbox buildroot post-build "$@"
fi
if [ -n "${BR2_EXTERNAL_THUNDERBOX_PATH:-}" ] && [ -f "${BR2_EXTERNAL_THUNDERBOX_PATH}/bin/thunderbox.js" ]; then
	exec node "${BR2_EXTERNAL_THUNDERBOX_PATH}/bin/thunderbox.js" buildroot post-build "$@"
fi
echo "post-build.sh: thunderbox not found: install it on PATH (npm install -g), or use this repo as BR2_EXTERNAL (BR2_EXTERNAL_THUNDERBOX_PATH), with node and 'npm ci && npm run build' done there" >&2
exit 1
