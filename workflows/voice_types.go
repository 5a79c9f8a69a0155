package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/inferflow/inferflow/wire"
)

// VoiceSessionWorkflowID is the workflow id of a realtime voice session.
func VoiceSessionWorkflowID(sessionID string) string { return "voice-" + sessionID }

// VoiceResponseJobID is the billing job id of one response of a session: the
// ledger keys are res_, cap_ and rel_ of it, so a replayed or retried call
// has one effect.
func VoiceResponseJobID(sessionID, responseID string) string { return sessionID + "-" + responseID }

// VoiceState is a session's lifecycle, also its VoiceState search attribute.
type VoiceState string

const (
	VoiceActive   VoiceState = "ACTIVE"
	VoiceClosing  VoiceState = "CLOSING"   // closed by the realtime process; billing settling
	VoiceClosed   VoiceState = "CLOSED"    // closed by the realtime process
	VoiceTimedOut VoiceState = "TIMED_OUT" // nothing heard for the inactivity timeout
	// VoiceOrphaned: the owner's lease lapsed (nothing heard from the
	// realtime process that owns the call for the lease window: it was
	// killed or lost), or the owner, restarted, closed the call it lost.
	VoiceOrphaned VoiceState = "ORPHANED"
)

// VoiceSignalName names a signal of VoiceSession. The realtime process sends
// one per turn, response and interruption, never per audio frame.
type VoiceSignalName string

const (
	SignalTurnStarted     VoiceSignalName = "turn-started"
	SignalTurnEnded       VoiceSignalName = "turn-ended"
	SignalResponseStarted VoiceSignalName = "response-started"
	SignalResponseDone    VoiceSignalName = "response-done"
	SignalInterruption    VoiceSignalName = "interruption"
	SignalGateSnapshot    VoiceSignalName = "gate-snapshot"
	SignalSessionClosed   VoiceSignalName = "session-closed"
	// SignalKeepAlive renews the owner's lease of a session that has sent
	// nothing else for a while; it is not activity.
	SignalKeepAlive VoiceSignalName = "keep-alive"
)

// VoiceSignalNames lists every signal VoiceSession handles.
var VoiceSignalNames = []VoiceSignalName{SignalTurnStarted, SignalTurnEnded, SignalResponseStarted,
	SignalResponseDone, SignalInterruption, SignalGateSnapshot, SignalSessionClosed, SignalKeepAlive}

// UpdateReserveResponse places the billing hold for a response before it is
// generated; QuerySummary returns a VoiceSummary.
const (
	UpdateReserveResponse = "reserve-response"
	QuerySummary          = "summary"
)

// Bounds and defaults of a voice session.
const (
	DefaultVoiceModelID           = "offline-small"
	DefaultVoiceInactivityTimeout = 30 * time.Minute
	MinVoiceInactivityTimeout     = time.Second
	MaxVoiceInactivityTimeout     = 24 * time.Hour
	DefaultVoiceSignalsPerRun     = 2000 // then continue-as-new
	MaxVoiceSignalsPerRun         = 20_000
	DefaultVoiceTimeline          = 64
	MaxVoiceTimeline              = 512
	DefaultVoiceInputTokens       = 4000 // hold estimate when the caller gives none
	MaxVoiceText                  = 256  // bytes of any free-text field kept in history
	// The owner lease of a session started with an Owner: it closes as
	// ORPHANED when nothing (signal or update) arrived for this long.
	DefaultVoiceOwnerLease = 60 * time.Second
	MinVoiceOwnerLease     = time.Second
	MaxVoiceOwnerLease     = time.Hour
	voiceRecentSettled     = 64 // settled response ids remembered against late updates
)

// VoiceSignalMeta is carried by every signal. Seq is the sender's order
// (1, 2, ...): the workflow handles a batch in Seq order and drops a Seq it
// has seen (a retried send that had arrived). Zero means unordered (e.g. a
// signal sent by hand from the CLI). At is the sender's clock.
type VoiceSignalMeta struct {
	Seq uint64    `json:"seq,omitempty"`
	At  time.Time `json:"at,omitzero"`
}

// Meta gives a sender access to the envelope of any signal payload.
func (m *VoiceSignalMeta) Meta() *VoiceSignalMeta { return m }

// VoiceSignal is implemented by the pointer to every signal payload.
type VoiceSignal interface {
	SignalName() VoiceSignalName
	Meta() *VoiceSignalMeta
}

// TurnStarted: the speech gate opened a user turn.
type TurnStarted struct {
	VoiceSignalMeta
	TurnID string `json:"turnId"`
}

// TurnEnded: the user turn ended.
type TurnEnded struct {
	VoiceSignalMeta
	TurnID         string `json:"turnId"`
	DurationMs     int64  `json:"durationMs"`
	FramesAdmitted int64  `json:"framesAdmitted"`
}

// ResponseStarted: the model began a response (after reserve-response).
type ResponseStarted struct {
	VoiceSignalMeta
	ResponseID string `json:"responseId"`
	TurnID     string `json:"turnId,omitempty"`
}

// ResponseStatus is how a response ended.
type ResponseStatus string

const (
	ResponseCompleted ResponseStatus = "completed"
	ResponseCancelled ResponseStatus = "cancelled"
	ResponseFailed    ResponseStatus = "failed"
)

// VoiceUsage is the realtime model's metered usage of one response.
type VoiceUsage struct {
	InputTokens  int `json:"inputTokens"`
	OutputTokens int `json:"outputTokens"`
	TotalTokens  int `json:"totalTokens"`
}

// ResponseDone: the response ended; a completed one is charged its usage, a
// cancelled or failed one has its hold released.
type ResponseDone struct {
	VoiceSignalMeta
	ResponseID string         `json:"responseId"`
	Status     ResponseStatus `json:"status"`
	Usage      VoiceUsage     `json:"usage"`
	Reason     string         `json:"reason,omitempty"` // why it failed or was cancelled
}

// Interruption: the user barged in on a response.
type Interruption struct {
	VoiceSignalMeta
	ResponseID string `json:"responseId,omitempty"`
	TurnID     string `json:"turnId,omitempty"`
}

// GateSnapshot is a compact periodic view of the speech gate. The session
// keeps the last one only.
type GateSnapshot struct {
	VoiceSignalMeta
	TurnState      string `json:"turnState"`
	BarrierState   string `json:"barrierState"`
	FramesTotal    uint64 `json:"framesTotal"`
	FramesSpeech   uint64 `json:"framesSpeech"`
	FramesAdmitted uint64 `json:"framesAdmitted"`
	FramesDropped  uint64 `json:"framesDropped"`
	Interruptions  uint64 `json:"interruptions"`
	UplinkErrors   uint64 `json:"uplinkErrors"`
	QueueDepth     int    `json:"queueDepth"`
}

// SessionClosed: the call ended. The session settles its billing and
// completes. Orphaned: the owner closes a call it lost (a restarted realtime
// process closing what its previous life left open); the session ends
// ORPHANED rather than CLOSED.
type SessionClosed struct {
	VoiceSignalMeta
	Reason   string `json:"reason"`
	Orphaned bool   `json:"orphaned,omitempty"`
}

// KeepAlive renews the owner's lease: the realtime process sends it only for
// a session that has sent nothing else for a third of the lease.
type KeepAlive struct {
	VoiceSignalMeta
}

func (*TurnStarted) SignalName() VoiceSignalName     { return SignalTurnStarted }
func (*TurnEnded) SignalName() VoiceSignalName       { return SignalTurnEnded }
func (*ResponseStarted) SignalName() VoiceSignalName { return SignalResponseStarted }
func (*ResponseDone) SignalName() VoiceSignalName    { return SignalResponseDone }
func (*Interruption) SignalName() VoiceSignalName    { return SignalInterruption }
func (*GateSnapshot) SignalName() VoiceSignalName    { return SignalGateSnapshot }
func (*SessionClosed) SignalName() VoiceSignalName   { return SignalSessionClosed }
func (*KeepAlive) SignalName() VoiceSignalName       { return SignalKeepAlive }

// ReserveResponseRequest asks for the hold of one response.
type ReserveResponseRequest struct {
	ResponseID string `json:"responseId"`
	TurnID     string `json:"turnId,omitempty"`
	// EstimatedInputTokens sizes the hold (plus the model's maximum
	// output); 0 takes the session's default.
	EstimatedInputTokens int `json:"estimatedInputTokens,omitempty"`
}

// ReserveResponseResult says whether the response may be generated. OK=false
// is a business refusal (Reason: the ledger's, e.g. INSUFFICIENT_CREDITS):
// the caller must not respond. Deferred: billing was unreachable, the
// response may go on and is billed after the fact.
type ReserveResponseResult struct {
	OK            bool   `json:"ok"`
	Reason        string `json:"reason,omitempty"`
	ReservationID string `json:"reservationId,omitempty"`
	HeldAmount    int64  `json:"heldAmount,omitempty"`
	Deferred      bool   `json:"deferred,omitempty"`
}

// Reasons of a reserve-response result that are not the ledger's own.
const (
	ReasonBillingUnavailable = "BILLING_UNAVAILABLE"
)

// VoiceSessionInput starts (or continues) a session.
type VoiceSessionInput struct {
	SessionID string        `json:"sessionId"`
	UserID    string        `json:"userId"`            // the billed user
	ModelID   string        `json:"modelId,omitempty"` // catalog id; default DefaultVoiceModelID
	Options   *VoiceOptions `json:"options,omitempty"`
	// Owner is the instance id of the realtime process that owns the call.
	// A session with an owner holds a lease: it closes ORPHANED, releasing
	// its holds, when nothing arrived from the owner for OwnerLeaseMs.
	// Empty: no lease (sessions started by hand or by an older process).
	Owner string `json:"owner,omitempty"`
	// Carry is the state of the previous run; set by continue-as-new only.
	Carry *VoiceCarry `json:"carry,omitempty"`
}

// VoiceOptions are optional; zero fields take defaults.
type VoiceOptions struct {
	InactivityTimeoutMs int `json:"inactivityTimeoutMs,omitempty"`
	MaxSignalsPerRun    int `json:"maxSignalsPerRun,omitempty"`
	TimelineSize        int `json:"timelineSize,omitempty"`
	DefaultInputTokens  int `json:"defaultInputTokens,omitempty"`
	// OwnerLeaseMs is the owner lease window [60 s, 1 s..1 h]; only with
	// an Owner.
	OwnerLeaseMs int `json:"ownerLeaseMs,omitempty"`
}

// VoiceTotals are a session's counters over all its runs.
type VoiceTotals struct {
	Turns            int   `json:"turns"`
	Responses        int   `json:"responses"` // responses done
	Completed        int   `json:"completed"`
	Cancelled        int   `json:"cancelled"`
	Failed           int   `json:"failed"`
	Interruptions    int   `json:"interruptions"`
	Refused          int   `json:"refused"` // reserve-response said no
	Captured         int   `json:"captured"`
	Released         int   `json:"released"`
	BilledLate       int   `json:"billedLate"`  // billed after the fact (no hold when it started)
	BilledTotal      int64 `json:"billedTotal"` // micro-credits charged
	BillingFailures  int   `json:"billingFailures"`
	Reconciling      int   `json:"reconciling"` // handed to the DLQ / Reconcile
	Signals          int   `json:"signals"`
	DuplicateSignals int   `json:"duplicateSignals"`
	InvalidSignals   int   `json:"invalidSignals"`
	KeepAlives       int   `json:"keepAlives,omitempty"` // keep-alive signals (lease renewals)
	InputTokens      int64 `json:"inputTokens"`
	OutputTokens     int64 `json:"outputTokens"`
}

// VoiceBilling is where a response's billing stands.
type VoiceBilling string

const (
	BillingNone          VoiceBilling = "none"           // no hold was asked for
	BillingReserving     VoiceBilling = "reserving"      // reserve in flight
	BillingHeld          VoiceBilling = "held"           // hold placed
	BillingRefused       VoiceBilling = "refused"        // the ledger said no
	BillingReserveFailed VoiceBilling = "reserve_failed" // the ledger was unreachable
	BillingSettling      VoiceBilling = "settling"       // capture / release in flight
	BillingCaptured      VoiceBilling = "captured"
	BillingReleased      VoiceBilling = "released"
	BillingUnbilled      VoiceBilling = "unbilled"    // could not be charged (recorded)
	BillingReconciling   VoiceBilling = "reconciling" // in the DLQ
)

// VoiceResponse is one response the session still tracks (open hold, or not
// yet settled).
type VoiceResponse struct {
	ResponseID    string         `json:"responseId"`
	TurnID        string         `json:"turnId,omitempty"`
	Billing       VoiceBilling   `json:"billing"`
	HoldTokens    int            `json:"holdTokens,omitempty"` // PromptTokens of res_<job>, once asked
	ReservationID string         `json:"reservationId,omitempty"`
	HeldAmount    int64          `json:"heldAmount,omitempty"`
	Reason        string         `json:"reason,omitempty"`
	Done          bool           `json:"done,omitempty"`
	Status        ResponseStatus `json:"status,omitempty"`
	Usage         VoiceUsage     `json:"usage,omitzero"`
}

// VoiceEvent is one timeline entry. At is workflow time; SentAt, for an
// entry made by a signal, is the sender's clock (later delivery after an
// outage shows as the gap).
type VoiceEvent struct {
	At         time.Time `json:"at"`
	SentAt     time.Time `json:"sentAt,omitzero"`
	Kind       string    `json:"kind"`
	TurnID     string    `json:"turnId,omitempty"`
	ResponseID string    `json:"responseId,omitempty"`
	Amount     int64     `json:"amount,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// VoiceCarry is the state a run hands to the next through continue-as-new.
type VoiceCarry struct {
	State        VoiceState                `json:"state"`
	Totals       VoiceTotals               `json:"totals"`
	Open         map[string]*VoiceResponse `json:"open,omitempty"`
	Settled      []string                  `json:"settled,omitempty"` // recent, oldest first
	Timeline     []VoiceEvent              `json:"timeline,omitempty"`
	Dropped      int                       `json:"timelineDropped,omitempty"`
	LastSnapshot *GateSnapshot             `json:"lastSnapshot,omitempty"`
	CurrentTurn  string                    `json:"currentTurn,omitempty"`
	LastSeq      uint64                    `json:"lastSeq,omitempty"`
	LastActivity time.Time                 `json:"lastActivity,omitzero"`
	// LeaseRenewed is when the owner was last heard from (any signal or
	// update, keep-alives included).
	LeaseRenewed time.Time `json:"leaseRenewed,omitzero"`
	Runs         int       `json:"runs"`
	// Available is the user's balance after the last capture.
	Available *int64 `json:"available,omitempty"`
}

// VoiceSummary is what the summary query (and the finished workflow) returns.
type VoiceSummary struct {
	SessionID       string          `json:"sessionId"`
	UserID          string          `json:"userId"`
	ModelID         string          `json:"modelId"`
	Owner           string          `json:"owner,omitempty"` // the realtime process's instance id
	State           VoiceState      `json:"state"`
	CloseReason     string          `json:"closeReason,omitempty"`
	Totals          VoiceTotals     `json:"totals"`
	OpenResponses   []VoiceResponse `json:"openResponses,omitempty"`
	HeldAmount      int64           `json:"heldAmount"` // still on hold
	CurrentTurn     string          `json:"currentTurn,omitempty"`
	LastSnapshot    *GateSnapshot   `json:"lastSnapshot,omitempty"`
	Timeline        []VoiceEvent    `json:"timeline"`
	TimelineDropped int             `json:"timelineDropped"`
	Runs            int             `json:"runs"` // continue-as-new count + 1
	// Available is the user's balance after the last capture (what each
	// response was charged is in the timeline's "captured" entries).
	Available *int64 `json:"available,omitempty"`
}

type voiceSettings struct {
	modelID       string
	inactivity    time.Duration
	signalsPerRun int
	timeline      int
	inputTokens   int
	lease         time.Duration // the owner lease; 0 without an owner
}

// OwnerLease is the session's owner lease window (0 without an owner).
func (in VoiceSessionInput) OwnerLease() (time.Duration, error) {
	set, err := in.settings()
	return set.lease, err
}

// Validate checks the input as the workflow will: the realtime process
// calls it before starting a session, so a session never fails at start.
func (in VoiceSessionInput) Validate() error {
	_, err := in.settings()
	return err
}

// settings validates the input (no I/O) and applies defaults.
func (in VoiceSessionInput) settings() (voiceSettings, error) {
	s := voiceSettings{modelID: in.ModelID, inactivity: DefaultVoiceInactivityTimeout, signalsPerRun: DefaultVoiceSignalsPerRun,
		timeline: DefaultVoiceTimeline, inputTokens: DefaultVoiceInputTokens}
	if s.modelID == "" {
		s.modelID = DefaultVoiceModelID
	}
	errs := []error{wire.ValidateID("sessionId", in.SessionID), wire.ValidateID("userId", in.UserID), wire.ValidateID("modelId", s.modelID)}
	if in.Owner != "" {
		s.lease = DefaultVoiceOwnerLease
		errs = append(errs, wire.ValidateID("owner", in.Owner))
	}
	if o := in.Options; o != nil {
		if o.InactivityTimeoutMs != 0 {
			s.inactivity = time.Duration(o.InactivityTimeoutMs) * time.Millisecond
			if s.inactivity < MinVoiceInactivityTimeout || s.inactivity > MaxVoiceInactivityTimeout {
				errs = append(errs, fmt.Errorf("inactivityTimeoutMs %d out of range [%d, %d]", o.InactivityTimeoutMs,
					MinVoiceInactivityTimeout.Milliseconds(), MaxVoiceInactivityTimeout.Milliseconds()))
			}
		}
		if o.MaxSignalsPerRun != 0 {
			s.signalsPerRun = o.MaxSignalsPerRun
			if s.signalsPerRun < 1 || s.signalsPerRun > MaxVoiceSignalsPerRun {
				errs = append(errs, fmt.Errorf("maxSignalsPerRun %d out of range [1, %d]", o.MaxSignalsPerRun, MaxVoiceSignalsPerRun))
			}
		}
		if o.TimelineSize != 0 {
			s.timeline = o.TimelineSize
			if s.timeline < 1 || s.timeline > MaxVoiceTimeline {
				errs = append(errs, fmt.Errorf("timelineSize %d out of range [1, %d]", o.TimelineSize, MaxVoiceTimeline))
			}
		}
		if o.DefaultInputTokens != 0 {
			s.inputTokens = o.DefaultInputTokens
			if s.inputTokens < 1 || s.inputTokens > wire.MaxTokens {
				errs = append(errs, fmt.Errorf("defaultInputTokens %d out of range [1, %d]", o.DefaultInputTokens, wire.MaxTokens))
			}
		}
		if o.OwnerLeaseMs != 0 {
			// Compared in milliseconds: a huge value would wrap as a Duration.
			switch ms := int64(o.OwnerLeaseMs); {
			case in.Owner == "":
				errs = append(errs, errors.New("ownerLeaseMs needs an owner"))
			case ms < MinVoiceOwnerLease.Milliseconds() || ms > MaxVoiceOwnerLease.Milliseconds():
				errs = append(errs, fmt.Errorf("ownerLeaseMs %d out of range [%d, %d]", o.OwnerLeaseMs,
					MinVoiceOwnerLease.Milliseconds(), MaxVoiceOwnerLease.Milliseconds()))
			default:
				s.lease = time.Duration(ms) * time.Millisecond
			}
		}
	}
	return s, errors.Join(errs...)
}

// validate checks what the workflow keeps of a signal; ids are required
// where the signal is about a turn or a response.
func validateVoiceSignal(sig VoiceSignal) error {
	switch v := sig.(type) {
	case *TurnStarted:
		return wire.ValidateID("turnId", v.TurnID)
	case *TurnEnded:
		if v.DurationMs < 0 || v.FramesAdmitted < 0 {
			return fmt.Errorf("turn %q: negative duration or frame count", v.TurnID)
		}
		return wire.ValidateID("turnId", v.TurnID)
	case *ResponseStarted:
		return wire.ValidateID("responseId", v.ResponseID)
	case *ResponseDone:
		if err := wire.ValidateID("responseId", v.ResponseID); err != nil {
			return err
		}
		switch v.Status {
		case ResponseCompleted, ResponseCancelled, ResponseFailed:
		default:
			return fmt.Errorf("response %q: status %q: want completed, cancelled or failed", v.ResponseID, v.Status)
		}
		u := v.Usage
		if u.InputTokens < 0 || u.OutputTokens < 0 || u.InputTokens > wire.MaxTokens || u.OutputTokens > wire.MaxTokens {
			return fmt.Errorf("response %q: usage %+v out of range [0, %d]", v.ResponseID, u, wire.MaxTokens)
		}
	}
	return nil
}

// clip bounds free text kept in history.
func clip(s string) string {
	if len(s) <= MaxVoiceText {
		return s
	}
	return strings.ToValidUTF8(s[:MaxVoiceText], "")
}
