package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/inferflow/inferflow/internal/voicepage"
	"github.com/inferflow/inferflow/workflows"
)

// pageState mirrors what the page's window.inferflowVoice.snapshot()
// returns (internal/voicepage/static/page.js).
type pageState struct {
	Phase      string `json:"phase"`
	SessionID  string `json:"sessionId"`
	WorkflowID string `json:"workflowId"`
	Error      string `json:"error"`
	TurnState  string `json:"turnState"`
	GatherMs   int    `json:"gatherMs"`
	Figures    *struct {
		Admitted uint64 `json:"admitted"`
		Dropped  uint64 `json:"dropped"`
	} `json:"figures"`
	Turns []struct {
		Turn       int    `json:"turn"`
		DurationMs *int64 `json:"durationMs"`
	} `json:"turns"`
	Responses []struct {
		Seq    int    `json:"seq"`
		ID     string `json:"id"`
		Status string `json:"status"`
		Usage  *struct {
			InputTokens  int `json:"inputTokens"`
			OutputTokens int `json:"outputTokens"`
		} `json:"usage"`
	} `json:"responses"`
}

func (s pageState) endedTurns() int {
	n := 0
	for _, t := range s.Turns {
		if t.DurationMs != nil {
			n++
		}
	}
	return n
}

func (s pageState) responses(status string) int {
	n := 0
	for _, r := range s.Responses {
		if r.Status == status {
			n++
		}
	}
	return n
}

func snapshotPage(ctx context.Context) (pageState, error) {
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.inferflowVoice ? window.inferflowVoice.snapshot() : {})`))
	if err != nil {
		return pageState{}, err
	}
	var s pageState
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return pageState{}, fmt.Errorf("page state %q: %w", raw, err)
	}
	return s, nil
}

// waitPage polls the page's state until ok says so or ctx ends.
func waitPage(ctx context.Context, what string, ok func(pageState) bool) (pageState, error) {
	var last pageState
	for {
		s, err := snapshotPage(ctx)
		if err == nil {
			last = s
			if ok(s) {
				return s, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("waiting for %s: %w (last page state: %+v)", what, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// pageEnv is newRealtimeEnv with the voice page served beside WHIP, as the
// realtime process serves it; it returns the page's URL.
func pageEnv(t *testing.T) (*realtimeEnv, string) {
	e := newRealtimeEnv(t, func(h http.Handler) http.Handler {
		return voicepage.Mount(h, voicepage.Config{Token: voiceToken, TemporalUI: "http://localhost:8233"})
	})
	return e, e.base
}

// A person opens the page, presses Start and talks (Chromium's fake
// microphone plays testdata/call-two-turns.wav): the page shows the clip's
// two turns and two answered responses, and the VoiceSession workflow
// records the same.
func TestBrowserVoicePage(t *testing.T) {
	chrome := chromium(t)
	e, url := pageEnv(t)
	wav, err := filepath.Abs(filepath.Join("..", "testdata", "call-two-turns.wav"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := chrome.open(t, 45*time.Second, fakeMicrophone(wav, true)...)
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.ID("start"))); err != nil {
		t.Fatal(err)
	}
	tok, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("token").value`))
	if err != nil || tok != voiceToken {
		t.Fatalf("token field = %q (%v), want it prefilled with %q", tok, err, voiceToken)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("start"))); err != nil {
		t.Fatal(err)
	}
	// Mid-call: the first answer has come back.
	s, err := waitPage(ctx, "the first response", func(s pageState) bool { return s.responses("completed") >= 1 || s.Error != "" })
	if err != nil || s.Error != "" {
		t.Fatalf("%v; page error %q", err, s.Error)
	}
	shot := saveScreenshot(t, ctx, "voice-page-mid-call.png")
	t.Logf("screenshot mid-call: %s", shot)

	s, err = waitPage(ctx, "two turns and two responses", func(s pageState) bool {
		return (s.endedTurns() >= 2 && s.responses("completed") >= 2) || s.Error != ""
	})
	if err != nil || s.Error != "" {
		t.Fatalf("%v; page error %q", err, s.Error)
	}
	saveScreenshot(t, ctx, "voice-page-two-turns.png")
	if s.WorkflowID == "" || !strings.HasSuffix(s.WorkflowID, s.SessionID) {
		t.Errorf("page shows workflow %q for session %q", s.WorkflowID, s.SessionID)
	}
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("workflow-link") || {}).href || ""`))
	if want := "http://localhost:8233/namespaces/default/workflows/" + s.WorkflowID; err != nil || href != want {
		t.Errorf("workflow link = %q (%v), want %q", href, err, want)
	}
	if s.Figures == nil || s.Figures.Admitted == 0 {
		t.Errorf("page shows no admitted frames: %+v", s.Figures)
	}
	// The cost of the answers and the balance arrive once the workflow has
	// captured them.
	balance, err := waitText(ctx, "balance", "µcr")
	if err != nil {
		t.Errorf("page shows no balance: %v (%q)", err, balance)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("stop"))); err != nil {
		t.Fatal(err)
	}
	s, err = waitPage(ctx, "the call to end", func(s pageState) bool { return s.Phase == "ended" || s.Phase == "error" })
	if err != nil {
		t.Fatal(err)
	}
	if s.Error != "" {
		t.Errorf("page error after Stop: %q", s.Error)
	}
	t.Logf("page: %d turns (%d ended), responses %d completed / %d cancelled, %.1f s after load (ICE gathering %d ms)",
		len(s.Turns), s.endedTurns(), s.responses("completed"), s.responses("cancelled"), time.Since(start).Seconds(), s.GatherMs)

	var sum workflows.VoiceSummary
	wctx := ctxFor(t, 30*time.Second)
	if err := e.client.GetWorkflow(wctx, s.WorkflowID, "").Get(wctx, &sum); err != nil {
		t.Fatalf("VoiceSession %s: %v", s.WorkflowID, err)
	}
	// The page stops listening at Stop; a turn or answer the server was
	// finishing at that instant reaches the workflow only.
	if got, shown := sum.Totals.Turns, len(s.Turns); got < shown || got > shown+1 {
		t.Errorf("workflow recorded %d turns, the page showed %d", got, shown)
	}
	if got, shown := sum.Totals.Completed, s.responses("completed"); got < shown || got > shown+1 {
		t.Errorf("workflow recorded %d completed responses, the page showed %d", got, shown)
	}
	if sum.State != workflows.VoiceClosed || sum.HeldAmount != 0 {
		t.Errorf("session state %s, held %d: want CLOSED with nothing held", sum.State, sum.HeldAmount)
	}
	if sum.Totals.BilledTotal <= 0 {
		t.Errorf("nothing billed: %+v", sum.Totals)
	}
}

// The page tells a person what went wrong: the microphone refused, a wrong
// token (401), the server full (429 with Retry-After), the call ended by
// the server.
func TestBrowserVoicePageErrors(t *testing.T) {
	chrome := chromium(t)
	e, url := pageEnv(t)
	wav, err := filepath.Abs(filepath.Join("..", "testdata", "call-two-turns.wav"))
	if err != nil {
		t.Fatal(err)
	}
	// A server at its limit, as internal/rtc answers then.
	full := httptest.NewServer(voicepage.Mount(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"error":"too_many_sessions","message":"the server runs its maximum of 64 sessions"}`)
	}), voicepage.Config{Token: voiceToken}))
	t.Cleanup(full.Close)
	// A tab per case. The fake permission prompt says yes to everything, so
	// the case that refuses the microphone has a browser without it, where
	// the test answers through CDP instead.
	granting := chrome.open(t, 40*time.Second, fakeMicrophone(wav, true)...)
	asking := chrome.open(t, 40*time.Second, fakeMicrophone(wav, false)...)
	cases := []struct {
		name    string
		browser context.Context
		url     string
		setup   func(ctx context.Context) error
		after   func(ctx context.Context) error // once Start is pressed
		want    []string                        // the message says one of these
	}{
		{"microphone refused", asking, url, func(ctx context.Context) error {
			_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: "microphone"}, Setting: browser.PermissionSettingDenied, Origin: url})
			return err
		}, nil, []string{"Microphone access was refused"}},
		{"wrong token", granting, url, func(ctx context.Context) error {
			return chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("token"), "not-the-token"))
		}, nil, []string{"The token was refused (401"}},
		{"server full", granting, full.URL, func(context.Context) error { return nil }, nil,
			[]string{"The server is full (429 Too Many Requests) (the server runs its maximum of 64 sessions). Try again in 7 s."}},
		// Last: it stops the realtime server's calls for good.
		{"server ends the call", granting, url, func(context.Context) error { return nil }, func(ctx context.Context) error {
			if _, err := waitPage(ctx, "the call to connect", func(s pageState) bool { return s.Phase == "live" && s.SessionID != "" }); err != nil {
				return err
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			return e.calls.Close(cctx)
		}, []string{"The call ended: ", "The connection dropped."}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := chromedp.NewContext(tc.browser)
			defer cancel()
			if err := chromedp.Do(ctx, chromedp.Navigate(tc.url+"/"), chromedp.WaitVisible(chromedp.ID("start"))); err != nil {
				t.Fatal(err)
			}
			if err := tc.setup(ctx); err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("start"))); err != nil {
				t.Fatal(err)
			}
			if tc.after != nil {
				if err := tc.after(ctx); err != nil {
					t.Fatal(err)
				}
			}
			s, err := waitPage(ctx, "an error", func(s pageState) bool { return s.Error != "" })
			if err != nil {
				t.Fatal(err)
			}
			shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("error")))
			if err != nil {
				t.Fatal(err)
			}
			said := false
			for _, w := range tc.want {
				said = said || strings.Contains(shown, w)
			}
			if !said || shown != s.Error {
				t.Errorf("error shown %q (state %q), want it to say one of %q", shown, s.Error, tc.want)
			}
			if e.calls.Active() != 0 {
				t.Errorf("%d calls still active", e.calls.Active())
			}
			disabled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("start").disabled`))
			if err != nil || disabled {
				t.Errorf("Start is disabled after the error (%v): the person cannot try again", err)
			}
			saveScreenshot(t, ctx, "voice-page-"+strings.ReplaceAll(tc.name, " ", "-")+".png")
		})
	}
}

// saveScreenshot writes the page as PNG into the test's artifact folder
// (kept after the test) and returns its path.
func saveScreenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return ""
	}
	dir := artifactDir(t)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot: %v", err)
		return ""
	}
	fmt.Fprintf(os.Stderr, "integration: %s: screenshot %s\n", t.Name(), path)
	return path
}

// artifactDir is $INFERFLOW_ARTIFACTS or a folder under the system's
// temporary directory, kept after the test so a person can look.
func artifactDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("INFERFLOW_ARTIFACTS")
	if base == "" {
		base = filepath.Join(os.TempDir(), "inferflow-test-artifacts")
	}
	dir := filepath.Join(base, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// waitText waits until the element's text contains want.
func waitText(ctx context.Context, id, want string) (string, error) {
	var text string
	for range 50 {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("`+id+`") || {}).textContent || ""`))
		if err != nil {
			return text, err
		}
		if text = got; strings.Contains(text, want) {
			return text, nil
		}
		select {
		case <-ctx.Done():
			return text, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return text, fmt.Errorf("#%s never showed %q", id, want)
}
