package integration

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chrome is a Chromium binary the browser tests drive over CDP.
type chrome struct{ path string }

// chromium finds Chromium ($INFERFLOW_CHROMIUM, /usr/bin/chromium, or on
// PATH) or skips: `make deps` and .ci/run install Debian's package.
func chromium(t *testing.T) chrome {
	t.Helper()
	skipShort(t)
	candidates := []string{os.Getenv("INFERFLOW_CHROMIUM"), "/usr/bin/chromium"}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			candidates = append(candidates, p)
		}
	}
	for _, p := range candidates {
		if st, err := os.Stat(p); p != "" && err == nil && !st.IsDir() {
			return chrome{path: p}
		}
	}
	t.Skip("Chromium is not installed (/usr/bin/chromium): `make deps` installs Debian's chromium package")
	return chrome{}
}

// fakeMicrophone makes getUserMedia capture wav (looped). With grant, the
// permission prompt is answered yes; without, the page asks and the test
// decides through CDP.
func fakeMicrophone(wav string, grant bool) []chromedp.ExecAllocatorOption {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", wav),
	}
	if grant {
		opts = append(opts, chromedp.Flag("use-fake-ui-for-media-stream", true))
	}
	return opts
}

// open starts a headless Chromium with a fresh profile and returns a tab's
// context, ended (and the browser stopped) when the test ends or after
// timeout.
func (c chrome) open(t *testing.T, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(c.path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox, // root in a container has no user namespaces
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1100, 1300),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// WebRTC on loopback: real host addresses instead of mDNS names
		// (Pion does not resolve them here), and loopback candidates.
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns,Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("force-webrtc-ip-handling-policy", "default"),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc() // waits for the browser to exit
	})
	// Start the browser now, so a launch failure is reported as such.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", c.path, err)
	}
	return ctx
}
