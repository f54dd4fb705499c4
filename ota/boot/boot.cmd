# Einwurf A/B boot script for U-Boot (docs/update.md).
# Compile: mkimage -A arm64 -O linux -T script -C none -d boot.cmd boot.scr
#
# Variables (the kiosk's ota package sets them through fw_env.config):
#   boot_slot          a or b: the root file system to boot
#   upgrade_available  1 while boot_slot is on trial (after an update)
#   bootcount          boots on trial so far (this script counts them)
#   bootlimit          boots on trial before falling back (at most 9)
#   rollback           set to 1 when this script fell back
#   einwurf_saveenv    if set, a command run instead of saveenv (a board
#                      whose environment is not where saveenv writes, such as
#                      the virtual board of vm/, whose block is on the disk)
# Disk: virtio 0, partition 2 is slot a, partition 3 is slot b.

if test -z "${boot_slot}"; then setenv boot_slot a; fi
if test -z "${bootlimit}"; then setenv bootlimit 3; fi
if test "${upgrade_available}" = "1"; then
	if test -z "${bootcount}"; then setenv bootcount 0; fi
	setexpr bootcount ${bootcount} + 1
	if test ${bootcount} -gt ${bootlimit}; then
		echo "einwurf: slot ${boot_slot} did not commit in ${bootlimit} boots, falling back"
		if test "${boot_slot}" = "a"; then setenv boot_slot b; else setenv boot_slot a; fi
		setenv upgrade_available 0
		setenv bootcount 0
		setenv rollback 1
	fi
	if test -n "${einwurf_saveenv}"; then run einwurf_saveenv; else saveenv; fi
fi
if test "${boot_slot}" = "b"; then setenv rootpart 3; else setenv rootpart 2; fi
echo "einwurf: booting slot ${boot_slot} (virtio 0:${rootpart})"
setenv bootargs "console=ttyAMA0 root=/dev/vda${rootpart} rootwait ro einwurf.slot=${boot_slot}"
load virtio 0:${rootpart} ${kernel_addr_r} /boot/Image
load virtio 0:${rootpart} ${ramdisk_addr_r} /boot/initrd.img
booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}
