#!/usr/bin/env bash
# Builds the einwurf Debian package from a built einwurfd.
#   packaging/build-deb.sh ARCH EINWURFD VERSION OUTDIR
# ARCH is a Debian architecture (arm64, amd64). Prints the .deb's path.
# EINWURF_DEB_COMPRESS=none (tests) builds faster than the default xz.
# einwurfd ships as the factory bundle of the application slots
# (/usr/lib/einwurf/factory: einwurfd, VERSION; /usr/bin/einwurfd links to
# it), which einwurf-launch (/usr/libexec/einwurf, built here, pure Go)
# installs into slot a at the first start and starts einwurfd from
# (docs/update.md).
set -euo pipefail
arch=$1 bin=$2 version=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
deb=$here/debian
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)}

inst() { # inst MODE SRC DEST
	install -D -m "$1" "$2" "$root/$3"
}
inst 0755 "$bin" usr/lib/einwurf/factory/einwurfd
printf '%s\n' "$version" >"$root/usr/lib/einwurf/factory/VERSION"
chmod 0644 "$root/usr/lib/einwurf/factory/VERSION"
mkdir -p "$root/usr/bin"
ln -s ../lib/einwurf/factory/einwurfd "$root/usr/bin/einwurfd"
mkdir -p "$root/usr/libexec/einwurf"
(cd "$top" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch ${GO:-go} build -trimpath -buildmode=pie -ldflags '-s -w' \
	-o "$root/usr/libexec/einwurf/einwurf-launch" ./ota/cmd/einwurf-launch)
chmod 0755 "$root/usr/libexec/einwurf/einwurf-launch"
inst 0755 "$deb/kiosk-browser" usr/libexec/einwurf/kiosk-browser
inst 0644 "$deb/einwurfd.service" lib/systemd/system/einwurfd.service
inst 0644 "$deb/einwurf-kiosk.service" lib/systemd/system/einwurf-kiosk.service
inst 0644 "$deb/einwurf.sysusers" usr/lib/sysusers.d/einwurf.conf
inst 0644 "$deb/70-einwurf.rules" lib/udev/rules.d/70-einwurf.rules
inst 0644 "$deb/einwurfd.json" etc/einwurf/einwurfd.json
inst 0644 "$deb/chromium-policy.json" etc/chromium/policies/managed/einwurf-kiosk.json
inst 0644 "$deb/einwurf-kiosk.pam" etc/pam.d/einwurf-kiosk
inst 0644 "$deb/modprobe.conf" etc/modprobe.d/einwurf-usblp.conf
inst 0644 "$deb/copyright" usr/share/doc/einwurf/copyright
inst 0644 "$deb/lintian-overrides" usr/share/lintian/overrides/einwurf
doc=$root/usr/share/doc/einwurf
sed "s/@VERSION@/$version/" "$deb/changelog" | gzip -9n >"$doc/changelog.gz"
gzip -9n <"$top/docs/install.md" >"$doc/install.md.gz"
mkdir -p "$root/usr/share/man/man8"
gzip -9n <"$deb/einwurfd.8" >"$root/usr/share/man/man8/einwurfd.8.gz"
chmod 0644 "$doc"/*.gz "$root/usr/share/man/man8/einwurfd.8.gz"

# Depends: the newest glibc symbol version einwurfd uses, and libusb.
objdump=objdump
[ "$arch" = arm64 ] && objdump=aarch64-linux-gnu-objdump
glibc=$($objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
depends="libc6 (>= $glibc), libusb-1.0-0 (>= 2:1.0.22)"

mkdir -p "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
	"$deb/control.in" >"$root/DEBIAN/control"
install -m 0644 "$deb/conffiles" "$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "$deb/$s" "$root/DEBIAN/$s"; done
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' |
	sort -z | xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out"
pkg=$out/einwurf_${version}_${arch}.deb
dpkg-deb --root-owner-group -Z"${EINWURF_DEB_COMPRESS:-xz}" --build "$root" "$pkg" >/dev/null
echo "$pkg"
