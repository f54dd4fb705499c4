package speech

import "sync"

// Recorder is a Speaker double that keeps what it was told to say.
type Recorder struct {
	mu     sync.Mutex
	Said   []Said
	volume int
}

// Said is one text a Recorder was told to say.
type Said struct{ Lang, Text string }

// Say implements Speaker.
func (r *Recorder) Say(lang, text string) error {
	if _, ok := voices[lang]; !ok {
		return ErrLanguage
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Said = append(r.Said, Said{lang, text})
	return nil
}

// Repeat implements Speaker.
func (r *Recorder) Repeat() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.Said); n > 0 {
		r.Said = append(r.Said, r.Said[n-1])
	}
	return nil
}

// Volume implements Speaker.
func (r *Recorder) Volume(delta int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.volume = min(10, max(0, r.volume+delta))
	return r.volume
}

// Texts returns a copy of what was said.
func (r *Recorder) Texts() []Said {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Said(nil), r.Said...)
}
