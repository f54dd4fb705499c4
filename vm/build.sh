#!/usr/bin/env bash
# Builds the virtual kiosk board's disk (make vm) from Debian's arm64 kernel
# package and the project's arm64 build, without root:
#   bin/vm/disk.img   MBR disk: environment block at 1 MiB (16 KiB),
#                     p1 boot (ext4: boot.scr = vm/boot/env.cmd + ota/boot/boot.cmd),
#                     p2 slot a, p3 slot b (ext4: /boot/Image, /boot/initrd.img),
#                     p4 data (ext4: spool, keys, config)
# Each slot's initramfs holds the Go init (vm/init), Debian's virtio and ext4
# modules, the service and the C libraries it links. A second disk,
# bin/vm/disk-bad-b.img, has a slot b whose health check fails (a bad
# update), for the rollback scenario.
#   vm/build.sh SERVICE_BINARY [SERVICE ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
out=bin/vm
svc=${1:?usage: build.sh SERVICE_BINARY [ARGS...]}; shift; svcargs="$*"
mkdir -p "$out"
[ -n "$(ls "$out"/kernel/linux-image-*.deb 2>/dev/null)" ] || vm/fetch-kernel.sh "$out/kernel"
deb=$(ls "$out"/kernel/linux-image-*.deb | head -1)
k=$out/kernel/root
rm -rf "$k" && mkdir -p "$k" && dpkg-deb -x "$deb" "$k"
kver=$(ls "$k/lib/modules")
go build -o "$out/vmdisk" ./vm/cmd/vmdisk
CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -o "$out/init" ./vm/init

# The C libraries an arm64 ELF links, from the cross toolchain and multiarch.
libdirs=(/usr/aarch64-linux-gnu/lib /usr/lib/aarch64-linux-gnu /lib/aarch64-linux-gnu)
needed() { aarch64-linux-gnu-readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
findlib() { for d in "${libdirs[@]}"; do [ -e "$d/$1" ] && { echo "$d/$1"; return; }; done; echo "build.sh: library $1 not found" >&2; return 1; }

slot() { # slot NAME HEALTH [TAG]: bin/vm/slot-NAME[-TAG].img
	local name=$1 health=$2
	local r=$out/slot-$name${3:+-$3}
	rm -rf "$r" "$r.initrd" && mkdir -p "$r/boot" "$r.initrd"/{bin,lib/modules,etc/einwurf-vm,dev,proc,sys,tmp,run,data,lib64}
	local i=$r.initrd
	cp "$out/init" "$i/init"
	for m in virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk crc16 mbcache crc32c_generic jbd2 ext4; do
		cp "$(find "$k/lib/modules/$kver" -name "$m.ko" | head -1)" "$i/lib/modules/"
	done
	cp "$svc" "$i/bin/"
	# The simulated devices (vm/devices.md): their modules (vm/devices.modules,
	# in load order; Debian's or built here under bin/vm/modules), loaded by the
	# init after its own, and the device probe the init runs when the
	# environment sets vm_probe.
	local extra=() m
	[ -s vm/devices.modules ] && extra=($(sed 's/#.*//' vm/devices.modules))
	for m in "${extra[@]}"; do
		cp "$(find "$k/lib/modules/$kver" "$out/modules" -name "$m.ko" 2>/dev/null | head -1)" "$i/lib/modules/" ||
			{ echo "build.sh: module $m not found" >&2; return 1; }
	done
	printf '%s\n' "${extra[@]}" >"$i/etc/einwurf-vm/modules"
	local probe=${VM_PROBE:-bin/arm64/vmprobe}
	[ -e "$probe" ] && cp "$probe" "$i/bin/vmprobe"
	echo "/bin/$(basename "$svc") $svcargs" >"$i/etc/einwurf-vm/service"
	echo "$health" >"$i/etc/einwurf-vm/health"
	echo "$name" >"$i/etc/einwurf-vm/slot"
	cp "$out/machine-id" "$i/etc/machine-id"   # the board's identity (board/identity)
	# Libraries, to a fixed point.
	local todo=("$svc") seen=" "
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
	if [ "$seen" != " " ]; then
		cp -L "$(findlib ld-linux-aarch64.so.1)" "$i/lib/ld-linux-aarch64.so.1"
		ln -sf ../lib/ld-linux-aarch64.so.1 "$i/lib64/ld-linux-aarch64.so.1"
		mkdir -p "$i/etc" && echo /lib >"$i/etc/ld.so.conf"
	fi
	"$out/vmdisk" cpio "$r.cpio" "$i"
	gzip -1 -c "$r.cpio" >"$r/boot/initrd.img" && rm "$r.cpio"
	cp "$k/boot/vmlinuz-$kver" "$r/boot/Image"   # Debian's arm64 vmlinuz is an uncompressed Image
	echo "$name" >"$r/slot"
	local size=$(( $(du -sm "$r" | cut -f1) + 16 ))
	rm -f "$r.img"
	mke2fs -q -t ext4 -L "slot-$name" -d "$r" "$r.img" "${size}M" >/dev/null
}

# One machine id per board, kept across rebuilds of the same bin/vm.
[ -s "$out/machine-id" ] || od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$out/machine-id"
slot a ok
slot b ok
slot b fail bad

# Boot partition: the A/B script, with the virtual board's prelude.
bd=$out/boot && rm -rf "$bd" && mkdir -p "$bd"
cat vm/boot/env.cmd ota/boot/boot.cmd >"$out/boot.cmd"
mkimage -q -A arm64 -O linux -T script -C none -d "$out/boot.cmd" "$bd/boot.scr" >/dev/null
rm -f "$out/boot.img" && mke2fs -q -t ext4 -L boot -d "$bd" "$out/boot.img" 8M >/dev/null
# Data partition: the kiosk's state folder.
dd=$out/data && rm -rf "$dd" && mkdir -p "$dd"/{spool,keys,config}
rm -f "$out/data.img" && mke2fs -q -t ext4 -L data -d "$dd" "$out/data.img" 64M >/dev/null

for d in disk:slot-b disk-bad-b:slot-b-bad; do
	"$out/vmdisk" disk "$out/${d%%:*}.img" boot="$out/boot.img" a="$out/slot-a.img" b="$out/${d#*:}.img" data="$out/data.img"
	"$out/vmdisk" env "$out/${d%%:*}.img" boot_slot=a bootlimit=3 upgrade_available=0 bootcount=0
	ls -l "$out/${d%%:*}.img" | awk '{print "vm: disk " $5 " bytes (" $9 ")"}'
done
# The slots' and partitions' files are in the disks now.
rm -rf "$out"/slot-a "$out"/slot-b "$out"/slot-b-bad "$out"/*.initrd "$out"/slot-*.img "$out"/boot.img "$out"/data.img "$k"
