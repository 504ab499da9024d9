#!/bin/sh
# Sourced by post-build.sh and post-fakeroot.sh: runs thunderbox from PATH, or from this
# external tree (BR2_EXTERNAL_THUNDERBOX_PATH, after `npm ci && npm run build` there).
thunderbox_run() {
	if command -v thunderbox >/dev/null 2>&1; then
		exec thunderbox "$@"
	fi
	if [ -n "${BR2_EXTERNAL_THUNDERBOX_PATH:-}" ] && [ -f "${BR2_EXTERNAL_THUNDERBOX_PATH}/bin/thunderbox.js" ]; then
		exec node "${BR2_EXTERNAL_THUNDERBOX_PATH}/bin/thunderbox.js" "$@"
	fi
	echo "$(basename "$0"): thunderbox not found: install it on PATH (npm install -g), or use this repo as BR2_EXTERNAL (BR2_EXTERNAL_THUNDERBOX_PATH), with node and 'npm ci && npm run build' done there" >&2
	exit 1
}
