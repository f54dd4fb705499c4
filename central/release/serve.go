package release

import (
	"net/http"
	"path/filepath"
	"strings"
)

// Handler serves the repository: /tuf/metadata/NAME and /tuf/targets/PATH
// (with Range, for resumed and delta downloads). Nothing outside the two
// folders is served, and no folder listings.
func (r Repo) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, d := range []string{"metadata", "targets"} {
		fs := http.StripPrefix("/tuf/"+d+"/", http.FileServer(noListing{http.Dir(filepath.Join(r.Dir, d))}))
		mux.Handle("/tuf/"+d+"/", fs)
	}
	return mux
}

type noListing struct{ http.FileSystem }

func (n noListing) Open(name string) (http.File, error) {
	if strings.HasSuffix(name, "/") || strings.Contains(name, "/.") {
		return nil, errNotServed
	}
	f, err := n.FileSystem.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || st.IsDir() {
		f.Close()
		return nil, errNotServed
	}
	return f, nil
}

var errNotServed = &notServed{}

type notServed struct{}

func (*notServed) Error() string { return "not served" }
