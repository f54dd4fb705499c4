# The virtual board's prelude to ota/boot/boot.cmd (vm/build.sh joins them
# into one boot.scr). Debian's qemu_arm64 U-Boot keeps its environment in
# flash where saveenv fails; this board keeps it in a raw block on the virtio
# disk, at 1 MiB (sector 0x800), 16 KiB (0x20 sectors), the block the kiosk's
# ota/ubootenv and the host's fw_printenv -c read (vm/fw_env.config).
setenv einwurf_envbuf ${kernel_addr_r}
virtio read ${einwurf_envbuf} 0x800 0x20
env import -c ${einwurf_envbuf} 0x4000
setenv einwurf_saveenv 'env export -c -s 0x4000 ${einwurf_envbuf} boot_slot upgrade_available bootcount bootlimit rollback vm_after_ready vm_probe vm_panel vm_usb_wait; virtio write ${einwurf_envbuf} 0x800 0x20'
