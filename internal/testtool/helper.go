package testtool

import (
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// HelperProcess is the start of a helper process: the test binary started
// again by a test or benchmark with the environment variable env naming a
// JSON file. It reads that file into v and returns a context that SIGTERM
// ends. Run normally (env unset), it skips t saying whose helper it is.
func HelperProcess(t *testing.T, env, of string, v any) context.Context {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		t.Skip("helper process of " + of)
	}
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	t.Cleanup(stop)
	return ctx
}
