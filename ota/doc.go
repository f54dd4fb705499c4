// Package ota installs signed updates on the kiosk: an application bundle
// into application slots A/B, or a root file system image into the
// inactive partition of an A/B pair switched through the U-Boot
// environment. One state machine, persisted after every step, carries both:
//
//	offered → downloading → written → verified → switched → booted-on-trial → committed
//	                                                              └─────────→ rolled-back
//
// Nothing about the payload is taken from the offer: name and version are
// looked up in the verified TUF targets (package ota/tuf), the payload is
// fetched in blocks (package ota/blocks) whose hashes are checked before a
// block is written, and blocks the active slot already holds are copied
// instead of fetched. docs/update.md describes the boot scheme.
package ota
