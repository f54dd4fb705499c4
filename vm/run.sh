#!/usr/bin/env bash
# Boots the virtual kiosk board (make vm first) in qemu-system-aarch64:
# Debian's U-Boot for QEMU as the firmware, the disk on virtio, the console
# on stdout, QEMU's user network restricted to the forwards given (none by
# default: the board reaches nothing), the imager's UART (a PCI 16550,
# /dev/ttyS0 in the board) on a null chardev, the watchdog (i6300esb). QEMU exits when the board
# powers off. The test harness (vm/vm_test.go) builds the same command line.
#   vm/run.sh [DISK] [EXTRA QEMU ARGS...]
#   VM_ACCEL=tcg|kvm, VM_TIMEOUT seconds (default 300),
#   VM_FWD="10.0.2.100:8883=127.0.0.1:8883 ..." guest address=host address
#   VM_IMAGER=chardev backend of the imager's UART (default null; vm/cmd/vmdevices
#   prints a socket one for its simulated imager)
set -euo pipefail
cd "$(dirname "$0")/.."
disk=${1:-bin/vm/disk.img}; shift || true
net=user,id=n0,restrict=on
for f in ${VM_FWD:-}; do net+=",guestfwd=tcp:${f%%=*}-cmd:$PWD/bin/vm/vmdisk fwd ${f#*=}"; done
exec timeout "${VM_TIMEOUT:-300}" qemu-system-aarch64 -M virt,acpi=off -cpu cortex-a57 -smp 1 -m 512 \
	-accel "${VM_ACCEL:-tcg}" -bios /usr/lib/u-boot/qemu_arm64/u-boot.bin \
	-drive if=none,file="$disk",format=raw,id=hd0 -device virtio-blk-pci,drive=hd0 \
	-netdev "$net" -device virtio-net-pci,netdev=n0,romfile= \
	-chardev "${VM_IMAGER:-null},id=imager" -device pci-serial,chardev=imager -device i6300esb \
	-display none -monitor none -serial stdio "$@"
