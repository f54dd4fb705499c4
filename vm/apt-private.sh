# Sourced by vm/fetch-kernel.sh and vm/fetch-udev.sh: a private apt state
# for Debian's arm64 packages, so the system's apt configuration and
# package lists are not touched.
#   apt_private DIR   sets apt_opts (own sources list with the system's
#                     suite on deb.debian.org, lists and cache under DIR/apt)
#                     and runs apt-get update with them.
apt_private() {
	local d=$1/apt
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/etc/preferences.d" "$d/etc/apt.conf.d"
	local src=$d/etc/sources.list suite
	suite=$(. /etc/os-release; echo "${VERSION_CODENAME:-bookworm}")
	echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" >"$src"
	apt_opts=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64
		-o Dir::Etc::SourceList="$src" -o Dir::Etc::SourceParts=/dev/null
		-o Dir::Etc::Preferences="$d/etc/preferences" -o Dir::Etc::PreferencesParts="$d/etc/preferences.d"
		-o Dir::State::Lists="$d/lists" -o Dir::State::Status=/dev/null
		-o Dir::Cache="$d/cache" -o Debug::NoLocking=1)
	apt-get "${apt_opts[@]}" update -qq
}
