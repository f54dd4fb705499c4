#!/usr/bin/env bash
# Fetches Debian's arm64 kernel package with a private apt state
# (vm/apt-private.sh): the system's apt configuration and package lists are
# not touched.
#   vm/fetch-kernel.sh OUTDIR   → OUTDIR/linux-image-*.deb
set -euo pipefail
out=${1:?usage: fetch-kernel.sh OUTDIR}; mkdir -p "$out"; out=$(realpath "$out")
. "$(dirname "$0")/apt-private.sh"
apt_private "$out"
# linux-image-arm64 is the metapackage; its dependency is the real kernel.
pkg=$(apt-cache "${apt_opts[@]}" depends linux-image-arm64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$pkg" ] || { echo "fetch-kernel: no linux-image for arm64 found" >&2; exit 1; }
cd "$out" && apt-get "${apt_opts[@]}" download "$pkg"
ls "$out"/linux-image-*.deb
