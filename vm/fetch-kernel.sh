#!/usr/bin/env bash
# Fetches Debian's arm64 kernel package with a private apt state: the
# system's apt configuration and package lists are not touched.
#   vm/fetch-kernel.sh OUTDIR   → OUTDIR/linux-image-*.deb
set -euo pipefail
out=${1:?usage: fetch-kernel.sh OUTDIR}; mkdir -p "$out"; out=$(realpath "$out")
mkdir -p "$out/apt/lists/partial" "$out/apt/cache/archives/partial" "$out/apt/etc/preferences.d" "$out/apt/etc/apt.conf.d"
src=$out/apt/etc/sources.list
# The system's own Debian mirror and suite (deb822 or one-line format).
suite=$(. /etc/os-release; echo "${VERSION_CODENAME:-bookworm}")
echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" >"$src"
opts=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64
	-o Dir::Etc::SourceList="$src" -o Dir::Etc::SourceParts=/dev/null
	-o Dir::Etc::Preferences="$out/apt/etc/preferences" -o Dir::Etc::PreferencesParts="$out/apt/etc/preferences.d"
	-o Dir::State::Lists="$out/apt/lists" -o Dir::State::Status=/dev/null
	-o Dir::Cache="$out/apt/cache" -o Debug::NoLocking=1)
apt-get "${opts[@]}" update -qq
# linux-image-arm64 is the metapackage; its dependency is the real kernel.
pkg=$(apt-cache "${opts[@]}" depends linux-image-arm64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$pkg" ] || { echo "fetch-kernel: no linux-image for arm64 found" >&2; exit 1; }
cd "$out" && apt-get "${opts[@]}" download "$pkg"
ls "$out"/linux-image-*.deb
