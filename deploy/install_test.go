package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakes stand in for the commands install.sh needs root or systemd for;
// each logs its arguments. getent knows the user once useradd made it;
// systemctl is-active answers from the file "active".
var fakes = map[string]string{
	"getent": `case "$1 $2" in
"passwd hazgate") grep -qx hazgate "$STATE/users" 2>/dev/null ;;
"group dialout") exit 0 ;;
*) exit 2 ;;
esac`,
	"useradd":   `echo "useradd $*" >>"$STATE/log"; for a; do :; done; echo "$a" >>"$STATE/users"`,
	"usermod":   `echo "usermod $*" >>"$STATE/log"`,
	"chown":     `echo "chown $*" >>"$STATE/log"`,
	"systemctl": `echo "systemctl $*" >>"$STATE/log"; if [ "$1" = is-active ]; then [ -e "$STATE/active" ]; fi`,
}

func TestInstallScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	if out, err := exec.Command(bash, "-n", "install.sh").CombinedOutput(); err != nil {
		t.Fatalf("bash -n install.sh: %v\n%s", err, out)
	}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		if out, err := exec.Command(sc, "install.sh", "build.sh").CombinedOutput(); err != nil {
			t.Errorf("shellcheck: %v\n%s", err, out)
		}
	} else {
		t.Log("shellcheck not installed (apt-get install shellcheck): skipped")
	}

	root, state, fakeBin := t.TempDir(), t.TempDir(), t.TempDir()
	for name, body := range fakes {
		if err := os.WriteFile(filepath.Join(fakeBin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	binary := func(version string) string {
		p := filepath.Join(t.TempDir(), "hazgate")
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho hazgate "+version+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	install := func(bin string) string {
		t.Helper()
		if err := os.WriteFile(filepath.Join(state, "log"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bash, "install.sh", bin)
		cmd.Env = append(os.Environ(), "DESTDIR="+root, "STATE="+state, "SYSTEMCTL=systemctl",
			"PATH="+fakeBin+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("install.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	file := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	mode := func(p string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	log := func() string { b, _ := os.ReadFile(filepath.Join(state, "log")); return string(b) }

	// First install: user, directories, binary, unit, config and secrets file.
	out := install(binary("v1"))
	if !strings.Contains(out, "installed hazgate v1") {
		t.Errorf("output:\n%s", out)
	}
	if got := file("usr/local/bin/hazgate"); !strings.Contains(got, "v1") {
		t.Errorf("binary %q", got)
	}
	if file("etc/systemd/system/hazgate.service") != string(readFile(t, "systemd/hazgate.service")) {
		t.Error("unit differs from deploy/systemd/hazgate.service")
	}
	if file("etc/hazgate/hazgate.yaml") != string(readFile(t, "examples/site.yaml")) {
		t.Error("config is not the example")
	}
	if env := file("etc/hazgate/hazgate.env"); !strings.Contains(env, "#INFLUX_TOKEN=") {
		t.Errorf("hazgate.env does not list the config's variables:\n%s", env)
	}
	for p, want := range map[string]os.FileMode{"var/lib/hazgate": 0o750, "etc/hazgate/hazgate.env": 0o640, "etc/hazgate/hazgate.yaml": 0o640, "usr/local/bin/hazgate": 0o755} {
		if got := mode(p); got != want {
			t.Errorf("%s: mode %o, want %o", p, got, want)
		}
	}
	first := log()
	for _, want := range []string{"useradd --system", "usermod -a -G dialout hazgate", "chown hazgate:hazgate " + root + "/var/lib/hazgate",
		"chown root:hazgate " + root + "/etc/hazgate/hazgate.env", "systemctl daemon-reload", "systemctl enable hazgate.service"} {
		if !strings.Contains(first, want) {
			t.Errorf("first install did not run %q; ran:\n%s", want, first)
		}
	}
	if strings.Contains(first, "restart") {
		t.Errorf("first install restarted a service that was not running:\n%s", first)
	}

	// The operator edits the config and the secrets; the service runs.
	for p, text := range map[string]string{"etc/hazgate/hazgate.yaml": "site: {id: edited}\n", "etc/hazgate/hazgate.env": "INFLUX_TOKEN=secret\n"} {
		if err := os.WriteFile(filepath.Join(root, p), []byte(text), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(state, "active"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	// Upgrade: new binary, the operator's files kept, no second user, restart.
	install(binary("v2"))
	if got := file("usr/local/bin/hazgate"); !strings.Contains(got, "v2") {
		t.Errorf("binary not upgraded: %q", got)
	}
	if file("etc/hazgate/hazgate.yaml") != "site: {id: edited}\n" || file("etc/hazgate/hazgate.env") != "INFLUX_TOKEN=secret\n" {
		t.Error("the upgrade overwrote the operator's config or secrets")
	}
	second := log()
	if strings.Contains(second, "useradd") {
		t.Errorf("the upgrade created the user again:\n%s", second)
	}
	if !strings.Contains(second, "systemctl restart hazgate.service") {
		t.Errorf("the upgrade did not restart the running service:\n%s", second)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/local/bin/hazgate.new")); err == nil {
		t.Error("hazgate.new left behind")
	}
}
