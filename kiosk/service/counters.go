package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"

	"github.com/einwurf/einwurf/internal/atomicfile"
)

// Counter names.
const (
	CountPages       = "pages"
	CountSheets      = "sheets"
	CountJams        = "jams"
	CountDoubleFeeds = "double-feeds"
	CountVisits      = "visits"
	CountReceipts    = "receipts"
)

// Consumable names.
const (
	FeedRoller     = "feed-roller"
	SeparationPad  = "separation-pad"
	ReceiptPaper   = "receipt-paper"
	consumableFile = "counters.json"
)

// Consumable is a part that wears with the pages fed: pages since it was
// last changed, and after how many it is due.
type Consumable struct {
	Since     int64 `json:"since"`
	Threshold int64 `json:"threshold"`
}

// Due reports whether the part should be replaced.
func (c Consumable) Due() bool { return c.Threshold > 0 && c.Since >= c.Threshold }

// Thresholds are the pages after which a feed roller and a separation pad
// are due (typical of desktop document scanners' maintenance tables).
var Thresholds = map[string]int64{FeedRoller: 200000, SeparationPad: 100000}

// Counters are the kiosk's counters and consumables, kept in a file so
// they survive restarts. Add only marks them changed; Flush writes them
// (temp → fsync → rename → fsync of the folder). Safe for concurrent use.
type Counters struct {
	path string

	mu    sync.Mutex
	data  countersFile
	dirty bool
}

type countersFile struct {
	Counts      map[string]int64      `json:"counts"`
	Consumables map[string]Consumable `json:"consumables"`
}

// OpenCounters loads the counters kept in dir (none yet: all zero). A
// file that does not parse is an error: counters are not silently reset.
func OpenCounters(dir string) (*Counters, error) {
	c := &Counters{path: filepath.Join(dir, consumableFile),
		data: countersFile{Counts: map[string]int64{}, Consumables: map[string]Consumable{}}}
	b, err := os.ReadFile(c.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("service: counters: %w", err)
	default:
		if err := json.Unmarshal(b, &c.data); err != nil {
			return nil, fmt.Errorf("service: counters %s: %w", c.path, err)
		}
		if c.data.Counts == nil {
			c.data.Counts = map[string]int64{}
		}
		if c.data.Consumables == nil {
			c.data.Consumables = map[string]Consumable{}
		}
	}
	for name, t := range Thresholds {
		k := c.data.Consumables[name]
		k.Threshold = t
		c.data.Consumables[name] = k
	}
	return c, nil
}

// Add adds n to counter name; pages also wear the feed roller and the
// separation pad.
func (c *Counters) Add(name string, n int64) {
	if n == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data.Counts[name] += n
	if name == CountPages {
		for _, k := range []string{FeedRoller, SeparationPad} {
			v := c.data.Consumables[k]
			v.Since += n
			c.data.Consumables[k] = v
		}
	}
	c.dirty = true
}

// Reset starts consumable name afresh, after staff replaced it.
func (c *Counters) Reset(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.data.Consumables[name]
	if !ok {
		return fmt.Errorf("service: no consumable %q", name)
	}
	v.Since = 0
	c.data.Consumables[name] = v
	c.dirty = true
	return nil
}

// Counts returns a copy of the counters.
func (c *Counters) Counts() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.data.Counts)
}

// Consumables returns a copy of the consumables.
func (c *Counters) Consumables() map[string]Consumable {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.data.Consumables)
}

// Flush writes the counters if they changed since the last Flush.
func (c *Counters) Flush() error {
	c.mu.Lock()
	if !c.dirty {
		c.mu.Unlock()
		return nil
	}
	b, err := json.MarshalIndent(c.data, "", "  ")
	c.dirty = false
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(c.path, b, 0o600); err != nil {
		c.mu.Lock()
		c.dirty = true // try again at the next Flush
		c.mu.Unlock()
		return fmt.Errorf("service: counters: %w", err)
	}
	return nil
}
