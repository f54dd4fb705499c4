# The virtual board's prelude to ota/boot/boot.cmd (vm/build.sh joins them
# into one boot.scr). Debian's qemu_arm64 U-Boot keeps its environment in
# flash where saveenv fails; this board keeps it on the virtio disk in two
# redundant copies of 16 KiB (0x20 sectors), at 1 MiB (sector 0x800) and
# 1 MiB + 16 KiB (sector 0x820), in U-Boot's redundant format (CRC-32, a
# flag byte, the variables), which the kiosk's ota/ubootenv and the host's
# fw_printenv -c read and write (vm/fw_env.config names both copies).
#
# Reading: both copies are read; the older is imported first, the newer
# last (the newer is the one whose flag is the other's + 1, mod 256), and
# env import -c refuses a copy whose CRC does not match (a torn write),
# which then changes nothing: the newest intact copy wins. Writing
# (einwurf_saveenv, run by boot.cmd instead of saveenv): the copy that is
# not the current one is written, with the current flag + 1, so a power
# cut during the write leaves the current copy intact.
# Buffers where the kernel goes later (boot.cmd saves before it loads).
setenv einwurf_b1 ${kernel_addr_r}
setexpr einwurf_b2 ${einwurf_b1} + 0x8000
setexpr einwurf_t ${einwurf_b1} + 0x10000
virtio read ${einwurf_b1} 0x800 0x20
virtio read ${einwurf_b2} 0x820 0x20
setexpr einwurf_p1 ${einwurf_b1} + 1
setexpr einwurf_p2 ${einwurf_b2} + 1
setexpr einwurf_a1 ${einwurf_b1} + 4
setexpr einwurf_a2 ${einwurf_b2} + 4
setexpr.b einwurf_f1 *${einwurf_a1}
setexpr.b einwurf_f2 *${einwurf_a2}
# env import -c wants the CRC right before the variables: move it over
# the flag byte.
cp.b ${einwurf_b1} ${einwurf_t} 4
cp.b ${einwurf_t} ${einwurf_p1} 4
cp.b ${einwurf_b2} ${einwurf_t} 4
cp.b ${einwurf_t} ${einwurf_p2} 4
setexpr einwurf_d ${einwurf_f1} - ${einwurf_f2}
setexpr einwurf_d ${einwurf_d} % 100
setenv einwurf_cur none
if test "${einwurf_d}" = "1"; then
	if env import -c ${einwurf_p2} 0x3fff; then setenv einwurf_cur 2; fi
	if env import -c ${einwurf_p1} 0x3fff; then setenv einwurf_cur 1; fi
else
	if env import -c ${einwurf_p1} 0x3fff; then setenv einwurf_cur 1; fi
	if env import -c ${einwurf_p2} 0x3fff; then setenv einwurf_cur 2; fi
fi
echo "einwurf: environment copy ${einwurf_cur} (flags ${einwurf_f1} ${einwurf_f2})"
# einwurf_saveenv: export to the copy that is not current, flag + 1.
setenv einwurf_saveenv 'if test "${einwurf_cur}" = "1"; then setenv einwurf_wsec 0x820; setexpr einwurf_wf ${einwurf_f1} + 1; else setenv einwurf_wsec 0x800; setexpr einwurf_wf ${einwurf_f2} + 1; fi; setexpr einwurf_wf ${einwurf_wf} % 100; if test "${einwurf_cur}" = "1"; then setenv einwurf_cur 2; setenv einwurf_f2 ${einwurf_wf}; else setenv einwurf_cur 1; setenv einwurf_f1 ${einwurf_wf}; fi; env export -c -s 0x3fff ${einwurf_p1} boot_slot upgrade_available bootcount bootlimit rollback vm_after_ready vm_probe vm_panel vm_visit vm_udev; cp.b ${einwurf_p1} ${einwurf_t} 4; cp.b ${einwurf_t} ${einwurf_b1} 4; mw.b ${einwurf_a1} ${einwurf_wf} 1; virtio write ${einwurf_b1} ${einwurf_wsec} 0x20; echo "einwurf: environment written to copy ${einwurf_cur} (flag ${einwurf_wf})"'
