#!/usr/bin/env bash
# Fetches Debian's arm64 udev (systemd-udevd, udevadm, the rules) and the
# library packages it depends on, with a private apt state
# (vm/apt-private.sh): nothing from outside Debian's archive, the system's
# apt configuration untouched. vm/build.sh takes from them only what the
# board runs (the binary, the rules, the libraries readelf names).
#   vm/fetch-udev.sh OUTDIR   → OUTDIR/*.deb
set -euo pipefail
out=${1:?usage: fetch-udev.sh OUTDIR}; mkdir -p "$out"; out=$(realpath "$out")
. "$(dirname "$0")/apt-private.sh"
apt_private "$out"
# udev and, recursively, the library packages among its dependencies
# (libc6 comes from the cross toolchain, as einwurfd's does).
want=(udev) seen=" "
while [ ${#want[@]} -gt 0 ]; do
	p=${want[0]}; want=("${want[@]:1}")
	case $seen in *" $p "*) continue;; esac
	seen+="$p "
	for d in $(apt-cache "${apt_opts[@]}" depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances "$p" |
		awk '$1 == "Depends:" || $1 == "PreDepends:" {print $2}' | sed 's/:arm64$//' | grep '^lib' | grep -vx 'libc6\|libgcc-s1'); do
		want+=("$d")
	done
done
pkgs=($seen)
cd "$out" && apt-get "${apt_opts[@]}" download "${pkgs[@]}"
echo "fetch-udev: ${pkgs[*]}"
