#!/usr/bin/env bash
# Builds the virtual kiosk board's disks (make vm) from Debian's arm64 kernel
# package and the project's arm64 release package, without root:
#   bin/vm/disk.img   MBR disk: environment block at 1 MiB (16 KiB),
#                     p1 boot (ext4: boot.scr = vm/boot/env.cmd + ota/boot/boot.cmd),
#                     p2 slot a, p3 slot b (ext4, $SLOT_MB each: /boot/Image,
#                     /boot/initrd.img),
#                     p4 data (ext4: config, keys, state; a test provisions it)
# Each slot's initramfs is its whole root: the Go init (vm/init), the modules
# vm/modules lists, the release package einwurf_*_arm64.deb unpacked with
# dpkg-deb -x (einwurfd is the service), Debian's systemd-udevd and udevadm
# with udev's rules (package udev, fetched by vm/fetch-udev.sh: the init
# starts it before einwurfd, so libusb hears of devices plugged later), the
# C libraries einwurfd and udevadm link, the board profile vm/board-vm.json, /etc/os-release with the image's
# IMAGE_VERSION (the package's version), /etc/fw_env.config. Both slots of
# bin/vm/disk.img hold the factory version (DEB's). The root file system
# images of updates: bin/vm/rootfs-update.img (UPDATE_DEB's version, good)
# and bin/vm/rootfs-bad.img (UPDATE_DEB's einwurfd, version UPDATE.1: a
# regression, its einwurfd exits at start, so it never reaches its health
# check) and bin/vm/rootfs-unhealthy.img (UPDATE_DEB's einwurfd, version
# UPDATE.2: a regression that starts but reads the wrong configuration,
# $DATA/config/einwurfd-unhealthy.json, which the tests write with an
# address where no central answers, so einwurfd's own health check fails
# and it rolls back); bin/vm/versions names the four versions.
#   vm/build.sh DEB UPDATE_DEB
# Hooks for a board's extra pieces (vm/devices.md):
#   vm/devices.modules       the simulated devices' modules, after vm/modules'
#   VM_MODULES="mod1 mod2"   more modules, loaded after those
#   VM_PROBE=FILE            the device probe /bin/vmprobe (default bin/arm64/vmprobe)
#   VM_OVERLAY="dir1 dir2"   folders copied over each initramfs' root
set -euo pipefail
cd "$(dirname "$0")/.."
out=bin/vm
deb=${1:?usage: build.sh DEB UPDATE_DEB}
udeb=${2:?usage: build.sh DEB UPDATE_DEB}
slot_mb=${SLOT_MB:-112}
mkdir -p "$out"
[ -n "$(ls "$out"/kernel/linux-image-*.deb 2>/dev/null)" ] || vm/fetch-kernel.sh "$out/kernel"
kdeb=$(ls "$out"/kernel/linux-image-*.deb | head -1)
k=$out/kernel/root
rm -rf "$k" && mkdir -p "$k" && dpkg-deb -x "$kdeb" "$k"
kver=$(ls "$k/lib/modules")
# Debian's udev and the library packages it depends on (vm/fetch-udev.sh).
[ -n "$(ls "$out"/udev/udev_*.deb 2>/dev/null)" ] || vm/fetch-udev.sh "$out/udev"
u=$out/udev/root
rm -rf "$u" && mkdir -p "$u" && for d in "$out"/udev/*.deb; do dpkg-deb -x "$d" "$u"; done
go build -o "$out/vmdisk" ./vm/cmd/vmdisk
CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -o "$out/init" ./vm/init
version=$(dpkg-deb -f "$deb" Version)
uversion=$(dpkg-deb -f "$udeb" Version)
# Modules in load order: the board's (vm/modules), the simulated devices'
# (vm/devices.modules, vm/devices.md; Debian's or built under bin/vm/modules),
# and VM_MODULES.
modules=$(cat vm/modules $([ -s vm/devices.modules ] && echo vm/devices.modules) | sed 's/#.*//' | tr -s ' \n' ' ')" ${VM_MODULES:-}"

# The C libraries an arm64 ELF links, from the cross toolchain and multiarch.
libdirs=(/usr/aarch64-linux-gnu/lib /usr/lib/aarch64-linux-gnu /lib/aarch64-linux-gnu "$u/lib/aarch64-linux-gnu" "$u/usr/lib/aarch64-linux-gnu")
needed() { aarch64-linux-gnu-readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
findlib() { for d in "${libdirs[@]}"; do [ -e "$d/$1" ] && { echo "$d/$1"; return; }; done; echo "build.sh: library $1 not found" >&2; return 1; }

image() { # image NAME DEB VERSION MODE: bin/vm/NAME.img; MODE ok, fail (the init's check fails), crash (einwurfd exits at start)
	local name=$1 pdeb=$2 iversion=$3 mode=$4 health=ok
	local r=$out/$name
	rm -rf "$r" "$r.initrd" && mkdir -p "$r/boot" "$r.initrd"
	local i=$r.initrd
	dpkg-deb -x "$pdeb" "$i"   # the release package, as dpkg would unpack it
	mkdir -p "$i"/{bin,lib/modules,etc/einwurf-vm,dev,proc,sys,tmp,run,data,lib64}
	cp "$out/init" "$i/init"
	ln -sf ../init "$i/bin/systemctl"   # einwurfd's reboot (vm/init: "systemctl reboot")
	for m in $modules; do
		local ko; ko=$({ find "$k/lib/modules/$kver" "$out/modules" -name "$m.ko" 2>/dev/null || true; } | head -1)
		[ -n "$ko" ] || { echo "build.sh: module $m not in $kdeb" >&2; return 1; }
		cp "$ko" "$i/lib/modules/"
	done
	echo "$modules" | tr ' ' '\n' | sed '/^$/d' >"$i/etc/einwurf-vm/modules"
	cp vm/board-vm.json "$i/etc/einwurf/board-vm.json"
	local svc='/usr/bin/einwurfd -config $DATA/config/einwurfd.json -data $DATA/state'
	case $mode in
	fail) health=fail;;
	crash) svc+=' -regression-exits-at-start';;   # einwurfd refuses an unknown flag: exit 2
	unhealthy) svc=${svc/einwurfd.json/einwurfd-unhealthy.json};;
	esac
	echo "$svc" >"$i/etc/einwurf-vm/service"
	echo "einwurfd " >"$i/etc/einwurf-vm/ready"
	echo "$health" >"$i/etc/einwurf-vm/health"
	printf 'ID=einwurf-vm\nNAME="Einwurf virtual kiosk board"\nIMAGE_ID=einwurf-vm\nIMAGE_VERSION=%s\n' "$iversion" >"$i/etc/os-release"
	printf '/dev/vda 0x100000 0x4000\n/dev/vda 0x104000 0x4000\n' >"$i/etc/fw_env.config"   # vm/fw_env.config, as the board sees it
	cp "$out/machine-id" "$i/etc/machine-id"   # the board's identity (board/identity)
	for o in ${VM_OVERLAY:-}; do cp -a "$o/." "$i/"; done
	# The device probe the init runs when the environment sets vm_probe.
	local probe=${VM_PROBE:-bin/arm64/vmprobe}
	[ -e "$probe" ] && cp "$probe" "$i/bin/vmprobe"
	# Debian's udev: udevadm, systemd-udevd a link to it (as the package
	# installs it), the rules; not the hwdb sources (9 MB of text, and
	# hwdb.bin is made at install) nor the helper programs of rules for
	# devices the board has none of (ata_id, cdrom_id, scsi_id, v4l_id, ...).
	# The package's own rule (70-einwurf.rules: the scanner's node for the
	# einwurf group, /dev/einwurf/scanner) is there already and stays.
	mkdir -p "$i/lib/systemd" "$i/lib/udev/rules.d"
	cp "$u/bin/udevadm" "$i/bin/udevadm"
	ln -sf /bin/udevadm "$i/lib/systemd/systemd-udevd"
	cp -n "$u"/lib/udev/rules.d/*.rules "$i/lib/udev/rules.d/"
	# The users and groups the rules name (tty, dialout, ..., einwurf): what
	# the package's postinst runs, systemd-sysusers on its einwurf.conf, with
	# systemd's basic.conf (the host's, Debian's). Without them udevd only
	# warns and leaves the nodes root's, which einwurfd (root here) can open.
	if command -v systemd-sysusers >/dev/null && [ -e /usr/lib/sysusers.d/basic.conf ]; then
		cp /usr/lib/sysusers.d/basic.conf "$i/usr/lib/sysusers.d/"
		systemd-sysusers --root="$i" >/dev/null 2>&1 || echo "build.sh: systemd-sysusers failed; the board's udev rules warn of unknown groups" >&2
		rm -f "$i/usr/lib/sysusers.d/basic.conf"
	fi
	# Libraries, to a fixed point.
	local todo=("$i/usr/bin/einwurfd" "$i/bin/udevadm") seen=" "
	[ -e "$i/bin/vmprobe" ] && todo+=("$i/bin/vmprobe")
	while [ ${#todo[@]} -gt 0 ]; do
		local f=${todo[0]}; todo=("${todo[@]:1}")
		for n in $(needed "$f"); do
			case $seen in *" $n "*) continue;; esac
			seen+="$n "
			local p; p=$(findlib "$n")
			cp -L "$p" "$i/lib/$n"
			todo+=("$p")
		done
	done
	cp -L "$(findlib ld-linux-aarch64.so.1)" "$i/lib/ld-linux-aarch64.so.1"
	ln -sf ../lib/ld-linux-aarch64.so.1 "$i/lib64/ld-linux-aarch64.so.1"
	echo /lib >"$i/etc/ld.so.conf"
	"$out/vmdisk" cpio "$r.cpio" "$i"
	gzip -1 -c "$r.cpio" >"$r/boot/initrd.img" && rm "$r.cpio"
	cp "$k/boot/vmlinuz-$kver" "$r/boot/Image"   # Debian's arm64 vmlinuz is an uncompressed Image
	rm -f "$r.img"
	mke2fs -q -t ext4 -L "einwurf-root" -d "$r" "$r.img" "${slot_mb}M" >/dev/null
	rm -rf "$r" "$i"
}

# One machine id per board, kept across rebuilds of the same bin/vm.
[ -s "$out/machine-id" ] || od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$out/machine-id"
image rootfs-factory "$deb" "$version" ok
image rootfs-update "$udeb" "$uversion" ok
image rootfs-bad "$udeb" "$uversion.1" crash
image rootfs-unhealthy "$udeb" "$uversion.2" unhealthy
printf 'factory=%s\nupdate=%s\nbad=%s\nunhealthy=%s\n' "$version" "$uversion" "$uversion.1" "$uversion.2" >"$out/versions"

# Boot partition: the A/B script, with the virtual board's prelude.
bd=$out/boot && rm -rf "$bd" && mkdir -p "$bd"
cat vm/boot/env.cmd ota/boot/boot.cmd >"$out/boot.cmd"
mkimage -q -A arm64 -O linux -T script -C none -d "$out/boot.cmd" "$bd/boot.scr" >/dev/null
rm -f "$out/boot.img" && mke2fs -q -t ext4 -L boot -d "$bd" "$out/boot.img" 8M >/dev/null
# Data partition: the kiosk's configuration, keys and state folder (empty:
# the test provisions it, vm/vm_test.go).
dd=$out/data && rm -rf "$dd" && mkdir -p "$dd"/{config,keys,state}
rm -f "$out/data.img" && mke2fs -q -t ext4 -L data -d "$dd" "$out/data.img" 64M >/dev/null

"$out/vmdisk" disk "$out/disk.img" boot="$out/boot.img" a="$out/rootfs-factory.img" b="$out/rootfs-factory.img" data="$out/data.img"
"$out/vmdisk" env "$out/disk.img" boot_slot=a bootlimit=3 upgrade_available=0 bootcount=0
ls -l "$out/disk.img" | awk '{print "vm: disk " $5 " bytes (" $9 ")"}'
rm -f "$out/disk-bad-b.img"
echo "vm: root file systems (${slot_mb} MiB each): factory $version, update $uversion, bad $uversion.1, unhealthy $uversion.2"
# The partitions are in the disk now; the root file system images stay (the
# tests compute deltas from them).
rm -rf "$out"/boot.img "$out"/data.img "$k" "$u"
