// Package packaging holds the Debian package of the kiosk (debian/: units,
// udev rules, default configuration, maintainer scripts) and the scripts
// that build and check it (build-deb.sh, check.sh, driven by make release
// and make release-check). Its Go tests keep the package's files agreeing
// with the code: the default configuration parses, every configuration
// field is documented, the units admit each board profile's devices.
package packaging
