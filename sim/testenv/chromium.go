package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium finds the browser for the console's browser tests: $HAZGATE_CHROMIUM, Debian's, or on the PATH. Without one
// the test is skipped, or fails under HAZGATE_INTEGRATION=1.
func Chromium(t *testing.T) string {
	for _, p := range []string{os.Getenv("HAZGATE_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	Missing(t, "chromium not found (apt-get install chromium)")
	return ""
}

// Browser starts a headless Chromium for the test, with a minute to work.
func Browser(t *testing.T, bin string) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 900),
		// Desktop Chrome's autoplay policy: audio starts after a gesture.
		chromedp.Flag("autoplay-policy", "document-user-activation-required"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Screenshot saves the whole page as a PNG in the test's artifact
// directory and logs where.
func Screenshot(t *testing.T, b context.Context, name string) {
	t.Helper()
	shot, err := chromedp.Run(b, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.ArtifactDir(), name+"-"+strconv.Itoa(os.Getpid())+".png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
