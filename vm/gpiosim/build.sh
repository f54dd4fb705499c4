#!/usr/bin/env bash
# Builds gpio-sim.ko for the virtual board's kernel, out of tree (make vm
# runs it): Debian's arm64 kernel has no CONFIG_GPIO_SIM (nor the IRQ_SIM
# it selects), so the module is compiled from Debian's linux-source of the
# very version of the fetched linux-image (drivers/gpio/gpio-sim.c, with
# kernel/irq/irq_sim.c linked into it), against that version's
# linux-headers-*-arm64 and linux-headers-*-common and the host's (amd64)
# linux-kbuild, cross with aarch64-linux-gnu-gcc. The packages are fetched
# with a private apt state (as vm/fetch-kernel.sh does) and cached under
# bin/vm/gpio-sim/; the module lands in bin/vm/modules/ where vm/build.sh
# looks for the modules vm/devices.modules names.
#   vm/gpiosim/build.sh [OUTDIR]     (default bin/vm)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(realpath -m "${1:-bin/vm}")
w=$out/gpio-sim
mkdir -p "$w" "$out/modules"
[ -n "$(ls "$out"/kernel/linux-image-*.deb 2>/dev/null)" ] || vm/fetch-kernel.sh "$out/kernel"
kdeb=$(ls "$out"/kernel/linux-image-*.deb | head -1)
kpkg=$(dpkg-deb -f "$kdeb" Package)          # linux-image-6.1.0-50-arm64
kver=$(dpkg-deb -f "$kdeb" Version)          # 6.1.176-1
abi=${kpkg#linux-image-}; abi=${abi%-arm64}  # 6.1.0-50
series=$(echo "$abi" | cut -d. -f1,2)      # 6.1
if [ -s "$out/modules/gpio-sim.ko" ] && [ "$(cat "$w/built-for" 2>/dev/null)" = "$kpkg $kver" ]; then
	echo "gpio-sim: bin/vm/modules/gpio-sim.ko for $kpkg $kver is there"; exit 0
fi

# The packages, of exactly the kernel's version.
pkgs=("linux-source-$series=$kver" "linux-headers-$abi-arm64:arm64=$kver" "linux-headers-$abi-common=$kver" "linux-kbuild-$series:amd64=$kver")
if [ "$(ls "$w"/debs/*.deb 2>/dev/null | wc -l)" -lt 4 ]; then
	a=$w/apt && mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$w/debs"
	suite=$(. /etc/os-release; echo "${VERSION_CODENAME:-bookworm}")
	echo "deb [arch=arm64,amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" >"$a/sources.list"
	opts=(-o APT::Architecture=amd64 -o APT::Architectures::=amd64 -o APT::Architectures::=arm64
		-o Dir::Etc::SourceList="$a/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
		-o Dir::State::Lists="$a/lists" -o Dir::State::Status=/dev/null
		-o Dir::Cache="$a/cache" -o Debug::NoLocking=1)
	apt-get "${opts[@]}" update -qq
	(cd "$w/debs" && apt-get "${opts[@]}" download "${pkgs[@]}")
fi

# Headers and kbuild into one tree, as the packages install them.
r=$w/root && rm -rf "$r" && mkdir -p "$r"
for d in "$w"/debs/linux-headers-*.deb "$w"/debs/linux-kbuild-*.deb; do dpkg-deb -x "$d" "$r"; done
kdir=$r/usr/src/linux-headers-$abi-arm64
# scripts and tools are relative links to usr/lib/linux-kbuild-*; the
# Makefile includes the common headers' by its absolute path: into this tree.
sed -i "s|^include /usr/src/|include $r/usr/src/|" "$kdir/Makefile"

# The two sources from linux-source, nothing else.
src=$w/src && rm -rf "$src" && mkdir -p "$src"
tarball=$(dpkg-deb -c "$w"/debs/linux-source-*.deb | awk '{print $6}' | grep 'linux-source-.*\.tar\.xz$' | head -1)
dpkg-deb --fsys-tarfile "$w"/debs/linux-source-*.deb | tar -x -C "$src" "$tarball"
tb=$src/${tarball#./}
top=$(basename "$tarball" .tar.xz)
tar -xJf "$tb" -C "$src" --strip-components=1 --occurrence=1 \
	"$top/drivers/gpio/gpio-sim.c" "$top/drivers/gpio/gpiolib.h" "$top/kernel/irq/irq_sim.c"
rm -rf "$src/usr"
m=$w/module && rm -rf "$m" && mkdir -p "$m"
cp "$src/drivers/gpio/gpio-sim.c" "$src/drivers/gpio/gpiolib.h" "$src/kernel/irq/irq_sim.c" "$m/"
cat >"$m/Kbuild" <<'KB'
# gpio-sim with the IRQ simulator it needs (CONFIG_IRQ_SIM is not in the kernel).
obj-m := gpio-sim.o
gpio-sim-y := gpio-sim-main.o irq_sim.o
KB
mv "$m/gpio-sim.c" "$m/gpio-sim-main.c"
# The one change: irq_to_desc is not exported to modules in 6.1; the
# exported generic_handle_irq runs the same handler (handle_simple_irq, set
# when the simulator maps the interrupt).
grep -q 'handle_simple_irq(irq_to_desc(irqnum));' "$m/irq_sim.c" ||
	{ echo "gpio-sim: irq_sim.c changed upstream; look at the patch" >&2; exit 1; }
sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$m/irq_sim.c"
make -s -C "$kdir" M="$m" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- modules
cp "$m/gpio-sim.ko" "$out/modules/gpio-sim.ko"
echo "$kpkg $kver" >"$w/built-for"
rm -rf "$r" "$src"
echo "gpio-sim: bin/vm/modules/gpio-sim.ko for $kpkg $kver ($(stat -c %s "$out/modules/gpio-sim.ko") bytes)"
