// Package ledgerfault injects infrastructure failures into a real ledger,
// for tests and for failure drills (`worker --fault-capture-failures N`):
// the next N captures or releases fail as if the database were unreachable,
// then calls go through again.
package ledgerfault

import (
	"context"
	"errors"
	"sync"

	"github.com/inferflow/inferflow/internal/ledger"
)

// ErrInjected is the failure returned instead of calling the ledger.
var ErrInjected = errors.New("injected fault: ledger unavailable")

// Ledger wraps a ledger.Ledger; the zero counts inject nothing.
type Ledger struct {
	ledger.Ledger
	mu              sync.Mutex
	captureFailures int
	releaseFailures int
	captures        int
	releases        int
}

// Wrap returns l with the given numbers of failures to inject.
func Wrap(l ledger.Ledger, captureFailures, releaseFailures int) *Ledger {
	return &Ledger{Ledger: l, captureFailures: captureFailures, releaseFailures: releaseFailures}
}

// SetFailures sets how many of the next captures and releases fail.
func (f *Ledger) SetFailures(captures, releases int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.captureFailures, f.releaseFailures = captures, releases
}

// Calls reports how many captures and releases were attempted.
func (f *Ledger) Calls() (captures, releases int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.captures, f.releases
}

// take counts a call and reports whether it must fail.
func (f *Ledger) take(calls, failures *int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	*calls++
	if *failures > 0 {
		*failures--
		return true
	}
	return false
}

// Capture fails while capture failures remain, then captures.
func (f *Ledger) Capture(ctx context.Context, req ledger.CaptureRequest) (ledger.CaptureResult, error) {
	if f.take(&f.captures, &f.captureFailures) {
		return ledger.CaptureResult{}, ErrInjected
	}
	return f.Ledger.Capture(ctx, req)
}

// Release fails while release failures remain, then releases.
func (f *Ledger) Release(ctx context.Context, req ledger.ReleaseRequest) (ledger.ReleaseResult, error) {
	if f.take(&f.releases, &f.releaseFailures) {
		return ledger.ReleaseResult{}, ErrInjected
	}
	return f.Ledger.Release(ctx, req)
}
