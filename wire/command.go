package wire

import (
	"encoding/json"
	"regexp"
	"time"
)

// Message types added for the fleet: command results, births and update
// offers (the domain strings of their signatures).
const (
	TypeCommandResult = "command-result"
	TypeBirth         = "birth"
	TypeUpdateOffer   = "update-offer"
	TypeUpdateReport  = "update-report"
	TypeUpdateAck     = "update-ack"
)

// Command kinds (Command.Kind).
const (
	CmdReboot        = "reboot"
	CmdOutOfService  = "out-of-service" // Args["reason"]: a reason key the customer screen shows
	CmdInService     = "in-service"
	CmdResendStatus  = "resend-status"
	CmdSupportBundle = "support-bundle"
	CmdCheckUpdates  = "check-updates"
	CmdRotateKey     = "rotate-key"
	// CmdKeyEnrolled is the central's confirmation of a key rotation
	// (Args["pub"]: the new public key, standard base64): the kiosk stops
	// announcing the rotation. The monitor sends it by itself; operators
	// do not.
	CmdKeyEnrolled = "key-enrolled"
)

// Command result statuses.
const (
	ResultDone    = "done"
	ResultRefused = "refused" // not checked: bad signature, expired, replayed, unknown kind
	ResultFailed  = "failed"  // checked but could not be carried out
)

// CommandResultTopic carries a kiosk's signed CommandResult.
func CommandResultTopic(kioskID string) string { return KioskPrefix(kioskID) + "/cmd-result" }

// BirthTopic carries a kiosk's signed Birth, published at every connect.
func BirthTopic(kioskID string) string { return KioskPrefix(kioskID) + "/birth" }

// UpdateOfferTopic carries the central's signed UpdateOffer (retained) and
// UpdateAck to a kiosk.
func UpdateOfferTopic(kioskID string) string { return CentralPrefix(kioskID) + "/update" }

// UpdateReportTopic carries a kiosk's signed UpdateReport.
func UpdateReportTopic(kioskID string) string { return KioskPrefix(kioskID) + "/update" }

// CommandResult is a kiosk's signed answer to a Command. Seq is 0 when the
// command could not be parsed far enough to know it.
type CommandResult struct {
	KioskID string    `json:"kiosk_id"`
	Seq     uint64    `json:"seq"`
	Kind    string    `json:"kind,omitempty"`
	Status  string    `json:"status"`
	Reason  string    `json:"reason,omitempty"` // a code, no personal data
	Time    time.Time `json:"time"`
	// Data is the command's answer where it has one: a SupportBundle for
	// CmdSupportBundle, a KeyRotation for CmdRotateKey.
	Data json.RawMessage `json:"data,omitempty"`
}

// Refusal reasons of a CommandResult with ResultRefused.
const (
	RefusedMalformed = "malformed"    // not a signed command at all
	RefusedSignature = "signature"    // not signed by the central
	RefusedExpired   = "expired"      // past its expiry
	RefusedReplayed  = "replayed"     // sequence already carried out
	RefusedTooOld    = "too-old"      // sequence below the kiosk's anti-replay window
	RefusedKiosk     = "other-kiosk"  // addressed to another kiosk
	RefusedKind      = "unknown-kind" // a kind this kiosk does not know
	RefusedArgs      = "bad-args"     // arguments missing or not allowed
)

// serviceReason is what an out-of-service reason key looks like: the
// customer screen shows its own text for the key, never free text from the
// central.
var serviceReason = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// ValidServiceReason reports whether s may be a CmdOutOfService reason key
// (e.g. "maintenance", "technical-fault", "closed").
func ValidServiceReason(s string) bool { return serviceReason.MatchString(s) }

// SupportBundle is a kiosk's answer to CmdSupportBundle: what helps a
// technician, and no personal data (no numbers, no pages, no secrets).
type SupportBundle struct {
	KioskID  string            `json:"kiosk_id"`
	Time     time.Time         `json:"time"`
	Versions map[string]string `json:"versions,omitempty"`
	// Counters are the kiosk's counters (uplink, spool, visits, pages).
	Counters map[string]int64 `json:"counters,omitempty"`
	// Telemetry is the kiosk's current telemetry.
	Telemetry *Telemetry `json:"telemetry,omitempty"`
	// Config is the kiosk's configuration with every secret removed.
	Config json.RawMessage `json:"config,omitempty"`
	// Files are further parts (logs, diagnostics) by name, where a kiosk
	// has them.
	Files map[string]string `json:"files,omitempty"`
}

// KeyRotation is a kiosk's answer to CmdRotateKey: its new device public
// key. The result carrying it is signed with the old key, which is how the
// central knows the new key belongs to this kiosk.
type KeyRotation struct {
	NewPub []byte `json:"new_pub"`
}

// Birth is what a kiosk says, signed, each time it connects: Seq grows with
// every connect (persisted), so a restarted central can order births and the
// retained status and rebuild which kiosks are online.
type Birth struct {
	KioskID string    `json:"kiosk_id"`
	Seq     uint64    `json:"seq"`
	Version string    `json:"version,omitempty"`
	Slot    string    `json:"slot,omitempty"`
	Site    string    `json:"site,omitempty"`
	Time    time.Time `json:"time"`
}

// UpdateOffer tells a kiosk that an update is available. It is signed by
// the central, but the kiosk trusts nothing in it that its verified TUF
// metadata does not confirm: it names the target and where to get the
// metadata; the hashes and length come from the TUF targets role.
type UpdateOffer struct {
	KioskID   string    `json:"kiosk_id"`
	Seq       uint64    `json:"seq"`
	Expires   time.Time `json:"expires"`
	RolloutID string    `json:"rollout_id"`
	Target    string    `json:"target"`  // the TUF target's name
	Version   string    `json:"version"` // as the target's custom metadata says
	// Kind is "bundle" (application slots) or "rootfs" (A/B root file system).
	Kind string `json:"kind"`
	// MetadataURL and TargetsURL are the base URLs of the TUF repository
	// (empty: over MQTT chunks, see docs/update.md).
	MetadataURL string `json:"metadata_url,omitempty"`
	TargetsURL  string `json:"targets_url,omitempty"`
}

// Update states a kiosk reports (UpdateReport.State).
const (
	UpdateOffered     = "offered"
	UpdateDownloading = "downloading"
	UpdateWritten     = "written"
	UpdateVerified    = "verified"
	UpdateSwitched    = "switched"
	UpdateTrial       = "booted-on-trial"
	UpdateCommitted   = "committed"
	UpdateRolledBack  = "rolled-back"
	UpdateRefused     = "refused"
)

// UpdateReport is a kiosk's signed word on an update's progress.
type UpdateReport struct {
	KioskID   string    `json:"kiosk_id"`
	RolloutID string    `json:"rollout_id"`
	Target    string    `json:"target"`
	Version   string    `json:"version"`
	State     string    `json:"state"`
	Progress  float64   `json:"progress,omitempty"` // 0..1 while downloading
	Reason    string    `json:"reason,omitempty"`   // a code, no personal data
	Time      time.Time `json:"time"`
}

// UpdateAck is the central's signed answer to a kiosk's booted-on-trial
// report: the round trip through the central that a switched version's
// health check waits for. It travels on UpdateOfferTopic.
type UpdateAck struct {
	KioskID   string    `json:"kiosk_id"`
	RolloutID string    `json:"rollout_id"`
	Version   string    `json:"version"`
	State     string    `json:"state"` // the state acknowledged
	Time      time.Time `json:"time"`
}
