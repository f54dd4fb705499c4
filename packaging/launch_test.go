package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/einwurf/einwurf/internal/testtool"
)

// TestInstalledTreeLaunchesFromSlotA builds the package for this machine
// (einwurfd with a version, the launcher, the factory bundle), installs it
// into a prepared root with dpkg --root and runs check.sh's steps on it but
// lintian (make release-check runs lintian): the installed unit starts
// einwurf-launch, which installs the factory bundle into slot a and
// executes slot a's einwurfd; after a package upgrade (a newer VERSION)
// the next start runs the new einwurfd from slot b.
func TestInstalledTreeLaunchesFromSlotA(t *testing.T) {
	if testing.Short() {
		t.Skip("builds einwurfd and a package")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "objdump", "systemd-sysusers", "deb-systemd-helper", "systemd-analyze", "systemctl"} {
		testtool.NeedTool(t, tool)
	}
	if os.Geteuid() != 0 {
		testtool.SkipOrFail(t, "dpkg --root installs need root (chown in the maintainer scripts)")
	}
	arch := map[string]string{"amd64": "amd64", "arm64": "arm64"}[runtime.GOARCH]
	if arch == "" {
		t.Skipf("no package for %s", runtime.GOARCH)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "einwurfd")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version=0.0.1-test", "-o", bin, "./firmware/cmd/einwurfd")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build einwurfd: %v\n%s", err, out)
	}
	mk := exec.Command("./build-deb.sh", arch, bin, "0.0.1-test", filepath.Join(dir, "out"))
	mk.Env = append(os.Environ(), "EINWURF_DEB_COMPRESS=none")
	out, err := mk.CombinedOutput()
	if err != nil {
		t.Fatalf("build-deb.sh: %v\n%s", err, out)
	}
	deb := strings.TrimSpace(string(out))
	check := exec.Command("./check.sh", deb)
	check.Env = append(os.Environ(), "EINWURF_CHECK_LINTIAN=0")
	out, err = check.CombinedOutput()
	t.Logf("check.sh:\n%s", out)
	if err != nil {
		t.Fatalf("check.sh: %v", err)
	}
	if !strings.Contains(string(out), "launch: einwurfd started from slot a (0.0.1-test)") {
		t.Fatal("check.sh did not see einwurfd started from slot a")
	}
	if !strings.Contains(string(out), "upgrade: a newer package's einwurfd started from slot b (0.0.1-test+upgrade1)") {
		t.Fatal("check.sh did not see the package upgrade started from slot b")
	}
}
