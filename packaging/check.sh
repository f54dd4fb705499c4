#!/usr/bin/env bash
# Checks the einwurf packages with real tools:
#   1. lintian: no errors (the overrides in debian/lintian-overrides say why);
#   2. an install into a prepared root (dpkg --root, maintainer scripts run
#      with DPKG_ROOT): the files land, the users exist, the units are
#      enabled, einwurfd runs; then remove and purge leave nothing enabled;
#   3. systemd-analyze verify on the installed units;
#   4. the unit's ExecStart, run in the installed root: einwurf-launch
#      installs the factory bundle into slot a and starts einwurfd from it.
#   packaging/check.sh PKG.deb...
# EINWURF_CHECK_LINTIAN=0 leaves lintian out (packaging's Go test, which
# runs the rest on a package of the host's architecture).
set -euo pipefail
fail() { echo "check: FAIL: $*" >&2; exit 1; }

for deb in "$@"; do
	name=$(basename "$deb")
	echo "== $name"
	# 1. lintian (as root it warns; the package is only read).
	if [ "${EINWURF_CHECK_LINTIAN:-1}" != 0 ]; then
		lintian --fail-on error --display-level '>=warning' "$deb" 2>&1 | grep -v 'running with root privileges' || true
		lintian --fail-on error -q "$deb" >/dev/null 2>&1 || fail "$name: lintian reports errors"
		echo "lintian: no errors"
	fi

	# 2. The prepared root: an empty dpkg database, the base system's
	# accounts and groups the package joins, systemd's own units (for
	# verify) and the programs the units start.
	root=$(mktemp -d)
	trap 'rm -rf "$root" "$root.log"' EXIT
	mkdir -p "$root"/var/lib/dpkg/{info,updates,triggers} "$root"/etc "$root"/usr/bin "$root"/lib/systemd
	: >"$root/var/lib/dpkg/status"
	: >"$root/var/lib/dpkg/available"
	grep -E '^(root|nobody):' /etc/passwd >"$root/etc/passwd"
	grep -E '^(root|dialout|video|input|render|nogroup):' /etc/group >"$root/etc/group"
	: >"$root/etc/shadow"; : >"$root/etc/gshadow"
	cp -a /lib/systemd/system "$root/lib/systemd/"
	arch=$(dpkg-deb -f "$deb" Architecture)
	# Only the package's own dependencies are not in the prepared root.
	DPKG_ROOT=$root dpkg --root="$root" --log=/dev/null --force-script-chrootless --force-depends \
		--force-architecture -i "$deb" >"$root.log" 2>&1 || { cat "$root.log"; fail "$name: dpkg -i"; }

	# The files landed, as the package lists them.
	n=0
	while read -r f; do
		[ -e "$root$f" ] || fail "$name: $f is listed but not installed"
		n=$((n + 1))
	done < <(dpkg --root="$root" -L einwurf | grep -v '^/\.$')
	for f in /usr/bin/einwurfd /usr/libexec/einwurf/einwurf-launch /usr/lib/einwurf/factory/VERSION \
		/lib/systemd/system/einwurfd.service /lib/systemd/system/einwurf-kiosk.service \
		/usr/lib/sysusers.d/einwurf.conf /lib/udev/rules.d/70-einwurf.rules /etc/einwurf/einwurfd.json \
		/etc/chromium/policies/managed/einwurf-kiosk.json /etc/pam.d/einwurf-kiosk /usr/libexec/einwurf/kiosk-browser; do
		[ -f "$root$f" ] || fail "$name: $f missing"
	done
	echo "install: $n paths landed"
	# einwurfd runs (under qemu-aarch64 for arm64) and knows its flags.
	run=()
	[ "$arch" = arm64 ] && [ "$(dpkg --print-architecture)" != arm64 ] && run=(qemu-aarch64-static)
	help=$("${run[@]}" "$root/usr/bin/einwurfd" -h 2>&1) || fail "$name: einwurfd -h: $help"
	case $help in *-check-config*) ;; *) fail "$name: einwurfd -h: $help" ;; esac
	# The users exist, with their groups.
	grep -q '^einwurf:x:[0-9]*:[0-9]*:[^:]*:/var/lib/einwurf:/usr/sbin/nologin$' "$root/etc/passwd" ||
		fail "$name: no user einwurf: $(cat "$root/etc/passwd")"
	grep -q '^einwurf-kiosk:' "$root/etc/passwd" || fail "$name: no user einwurf-kiosk"
	grep -Eq '^einwurf-ui:x:[0-9]+:einwurf-kiosk$' "$root/etc/group" || fail "$name: einwurf-ui is not the screen's alone"
	grep -Eq '^dialout:x:[0-9]+:(.*,)?einwurf(,|$)' "$root/etc/group" || fail "$name: einwurf is not in dialout"
	gid=$(awk -F: '$1 == "einwurf" { print $3 }' "$root/etc/group")
	[ "$(stat -c '%a %u %g' "$root/etc/einwurf")" = "750 0 $gid" ] || fail "$name: /etc/einwurf is $(stat -c '%a %u %g' "$root/etc/einwurf")"
	echo "users: einwurf ($(grep '^einwurf:' "$root/etc/passwd" | cut -d: -f3)), einwurf-kiosk"
	# The units are enabled.
	[ -L "$root/etc/systemd/system/multi-user.target.wants/einwurfd.service" ] || fail "$name: einwurfd.service not enabled"
	[ -L "$root/etc/systemd/system/graphical.target.wants/einwurf-kiosk.service" ] || fail "$name: einwurf-kiosk.service not enabled"
	for u in einwurfd.service einwurf-kiosk.service; do
		[ "$(systemctl --root="$root" is-enabled "$u")" = enabled ] || fail "$name: $u is $(systemctl --root="$root" is-enabled "$u")"
	done
	echo "units: einwurfd.service, einwurf-kiosk.service enabled"

	# 3. systemd-analyze verify, in the root (man pages from the package).
	# The programs the units start that come from other packages (the
	# package depends on them) are copied in from this machine.
	for p in $(sed -n 's/^Exec[A-Za-z]*=[-+@!:]*\([^ ]*\).*/\1/p' "$root"/lib/systemd/system/einwurf*.service | sort -u); do
		[ -e "$root$p" ] && continue
		[ -x "$p" ] || fail "$p is missing here (a unit starts it)"
		mkdir -p "$root$(dirname "$p")" && cp "$p" "$root$p"
	done
	for p in /usr/bin/cage /usr/bin/chromium; do # the kiosk screen's launcher starts these
		[ -x "$p" ] || fail "$p is missing (the kiosk screen starts it; .ci/deps installs it)"
	done
	MANPATH=$root/usr/share/man systemd-analyze verify --root="$root" \
		/lib/systemd/system/einwurfd.service /lib/systemd/system/einwurf-kiosk.service ||
		fail "$name: systemd-analyze verify"
	echo "systemd-analyze verify: clean"

	# 4. The unit's ExecStart in the root (its paths moved into it, einwurfd's
	# own arguments replaced by -h): the launcher installs the factory bundle
	# into slot a of /var/lib/einwurf/app and executes slot a's einwurfd.
	start=$(sed -n 's/^ExecStart=//p' "$root/lib/systemd/system/einwurfd.service")
	case $start in /usr/libexec/einwurf/einwurf-launch\ *\ --\ *) ;; *) fail "$name: ExecStart is not the launcher: $start" ;; esac
	launch=()
	for w in ${start%% -- *}; do
		case $w in /*) launch+=("$root$w") ;; *) launch+=("$w") ;; esac
	done
	app=$root/var/lib/einwurf/app
	out=$("${run[@]}" "${launch[@]}" -- -h 2>&1) || true
	[ -f "$app/boot.env" ] && [ -x "$app/tree/a/einwurfd" ] || fail "$name: the launcher installed no slot a: $out"
	cmp -s "$app/tree/a/einwurfd" "$root/usr/lib/einwurf/factory/einwurfd" || fail "$name: slot a's einwurfd is not the package's"
	[ "$(cat "$app/tree/a/VERSION")" = "$(cat "$root/usr/lib/einwurf/factory/VERSION")" ] || fail "$name: slot a's VERSION"
	if [ ${#run[@]} -eq 0 ]; then
		# Natively the launcher's exec runs: slot a's einwurfd answers, also
		# with the package's own copy gone (so it is the slot's that runs).
		mv "$root/usr/lib/einwurf/factory/einwurfd" "$root/einwurfd.away"
		out=$("${launch[@]}" -- -h 2>&1) || fail "$name: launched einwurfd -h: $out"
		mv "$root/einwurfd.away" "$root/usr/lib/einwurf/factory/einwurfd"
		case $out in *-check-config*) ;; *) fail "$name: the launcher did not start einwurfd: $out" ;; esac
		echo "launch: einwurfd started from slot a ($(cat "$app/tree/a/VERSION"))"
		# A package upgrade (a newer VERSION in the factory folder): the next
		# start installs it into slot b and starts it from there.
		cp -a "$root/usr/lib/einwurf/factory/VERSION" "$root/VERSION.away"
		echo "$(cat "$root/VERSION.away")+upgrade1" >"$root/usr/lib/einwurf/factory/VERSION"
		out=$("${launch[@]}" -- -h 2>&1) || fail "$name: einwurfd -h after the upgrade: $out"
		mv "$root/VERSION.away" "$root/usr/lib/einwurf/factory/VERSION"
		case $out in *"upgraded bundle"*-check-config*) ;; *) fail "$name: the upgrade was not started from slot b: $out" ;; esac
		[ "$(cat "$app/tree/b/VERSION")" = "$(cat "$root/usr/lib/einwurf/factory/VERSION")+upgrade1" ] || fail "$name: slot b's VERSION after the upgrade"
		echo "upgrade: a newer package's einwurfd started from slot b ($(cat "$app/tree/b/VERSION"))"
	else
		# Emulated (no binfmt_misc): the launcher cannot exec an arm64
		# program, so only the slot it installed is checked.
		echo "launch: slot a installed ($(cat "$app/tree/a/VERSION")); exec not checked under emulation"
	fi

	# Remove and purge: nothing of the package stays enabled.
	DPKG_ROOT=$root dpkg --root="$root" --log=/dev/null --force-script-chrootless --force-depends \
		-P einwurf >"$root.log" 2>&1 || { cat "$root.log"; fail "$name: dpkg -P"; }
	[ ! -e "$root/usr/bin/einwurfd" ] || fail "$name: einwurfd left after purge"
	[ ! -e "$root/etc/systemd/system/multi-user.target.wants/einwurfd.service" ] || fail "$name: still enabled after purge"
	echo "purge: files and unit links gone"
	rm -rf "$root" "$root.log"
	trap - EXIT
done
echo "check: all packages pass"
