package wire

import "time"

// Message types added for the fleet: command results, births and update
// offers (the domain strings of their signatures).
const (
	TypeCommandResult = "command-result"
	TypeBirth         = "birth"
	TypeUpdateOffer   = "update-offer"
	TypeUpdateReport  = "update-report"
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

// UpdateOfferTopic carries the central's signed UpdateOffer to a kiosk.
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
