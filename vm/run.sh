#!/usr/bin/env bash
# Boots the virtual kiosk board (make vm first) in qemu-system-aarch64:
# Debian's U-Boot for QEMU as the firmware, the disk on virtio, the console
# on stdout, no network. QEMU exits when the board powers off.
#   vm/run.sh [DISK]     (VM_ACCEL=tcg|kvm, VM_TIMEOUT seconds, default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
disk=${1:-bin/vm/disk.img}
exec timeout "${VM_TIMEOUT:-300}" qemu-system-aarch64 -M virt -cpu cortex-a57 -smp 1 -m 512 \
	-accel "${VM_ACCEL:-tcg}" -bios /usr/lib/u-boot/qemu_arm64/u-boot.bin \
	-drive if=none,file="$disk",format=raw,id=hd0 -device virtio-blk-pci,drive=hd0 \
	-nic none -display none -monitor none -serial stdio
