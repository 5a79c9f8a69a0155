// Package ledger is inferflow's credit ledger (the saga's "billing service"):
// per-user credit accounts, reservations (holds) priced from a model catalog,
// an append-only double-entry journal, the saga's DLQ records and job states.
// Its rules are specified in CONTRACT.md#ledger.
//
// Money is integer micro-credits (int64). Every mutating call is idempotent on
// its key. Business rejections are *RejectedError; everything else is an
// infrastructure error and may be retried with the same key.
package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/inferflow/inferflow/internal/tokenusage"
)

// DefaultHoldTTL is the reservation lifetime when ReserveRequest.TTL is zero
// (see CONTRACT.md#hold-expiry).
const DefaultHoldTTL = 10 * time.Minute

// MaxHoldTTL bounds a hold so a typo cannot lock credits for years.
const MaxHoldTTL = 7 * 24 * time.Hour

// MinHoldTTL is the shortest hold: the store keeps times in microseconds, so
// a TTL of a few nanoseconds would make a hold that expires as it is made
// (or, rounded, at its own creation instant).
const MinHoldTTL = time.Millisecond

// MaxCreditAmount bounds a single Credit so balances cannot overflow int64.
const MaxCreditAmount = int64(1) << 50

// Ledger is the billing service used by the saga's activities.
type Ledger interface {
	// Credit funds a user's available balance (funding → available).
	Credit(ctx context.Context, userID string, amount int64, idempotencyKey string) error
	Balance(ctx context.Context, userID string) (Balance, error)

	// Reserve holds ExpectedCost(model, PromptTokens) at the model's current
	// price; the price is locked into the hold.
	Reserve(ctx context.Context, req ReserveRequest) (Reservation, error)
	// Capture charges actual usage at the locked price (capped at the hold)
	// and returns the rest of the hold to available.
	Capture(ctx context.Context, req CaptureRequest) (CaptureResult, error)
	// Release returns the whole hold to available.
	Release(ctx context.Context, req ReleaseRequest) (ReleaseResult, error)
	// ExpireHolds expires active holds whose TTL ended at or before now and
	// returns their credits; it reports how many holds it expired.
	ExpireHolds(ctx context.Context, now time.Time) (int, error)
	// Holds lists a user's reservations, oldest first.
	Holds(ctx context.Context, userID string) ([]Reservation, error)
	Reservation(ctx context.Context, id string) (Reservation, error)

	// PutDLQ stores a dead-letter record once per (Type, JobID,
	// SchemaVersion); a redelivery keeps the first payload and reports false.
	PutDLQ(ctx context.Context, rec DLQRecord) (inserted bool, err error)
	DLQ(ctx context.Context, typ, jobID string, schemaVersion int) (DLQRecord, error)
	// ListDLQ lists records with the given status ("" = all), oldest first.
	ListDLQ(ctx context.Context, status DLQStatus) ([]DLQRecord, error)
	MarkDLQ(ctx context.Context, typ, jobID string, schemaVersion int, status DLQStatus, note string) error
	// RecordDLQAttempt counts one reconciliation attempt and returns the total.
	RecordDLQAttempt(ctx context.Context, typ, jobID string, schemaVersion int) (int, error)

	// SetJobState records a job's saga state (upsert); JobState returns ""
	// for a job never recorded (see CONTRACT.md#dlq-records).
	SetJobState(ctx context.Context, jobID, state string) error
	JobState(ctx context.Context, jobID string) (string, error)
	// ClaimJob takes a job for one workflow run (CONTRACT.md#job-claims):
	// the first claim of a job id wins and is kept; the same run claiming
	// again succeeds (a retried activity, a replay); any other run gets a
	// *JobClaimedError.
	ClaimJob(ctx context.Context, jobID, runID string) error

	// Catalog returns the price catalog the ledger was opened with.
	Catalog() []Model
	// Audit checks the ledger's invariants from the database.
	Audit(ctx context.Context) (AuditReport, error)
	Close() error
}

// Balance is a user's position in micro-credits.
type Balance struct {
	Available int64 `json:"available"`
	Held      int64 `json:"held"`
	Spent     int64 `json:"spent"`
}

// ReserveRequest asks for a hold. PromptTokens is the caller's estimate.
type ReserveRequest struct {
	UserID         string
	ModelID        string
	PromptTokens   int
	IdempotencyKey string
	TTL            time.Duration // 0 = DefaultHoldTTL
}

// HoldStatus is the lifecycle of a reservation; a hold leaves active once.
type HoldStatus string

const (
	HoldActive   HoldStatus = "active"
	HoldCaptured HoldStatus = "captured"
	HoldReleased HoldStatus = "released"
	HoldExpired  HoldStatus = "expired"
)

// Reservation is a hold and the price snapshot it was made at.
type Reservation struct {
	ID                  string     `json:"id"`
	UserID              string     `json:"userId"`
	ModelID             string     `json:"modelId"`
	PromptTokens        int        `json:"promptTokens"`
	MaxTokens           int        `json:"maxTokens"` // promptTokens + model max completion
	Amount              int64      `json:"amount"`    // micro-credits held
	PromptPer1K         int64      `json:"promptPer1K"`
	CompletionPer1K     int64      `json:"completionPer1K"`
	MaxCompletionTokens int        `json:"maxCompletionTokens"`
	Status              HoldStatus `json:"status"`
	Captured            int64      `json:"captured"` // charged at capture
	Returned            int64      `json:"returned"` // given back at capture/release/expiry
	CreatedAt           time.Time  `json:"createdAt"`
	ExpiresAt           time.Time  `json:"expiresAt"`
	ResolvedAt          time.Time  `json:"resolvedAt,omitzero"`
}

// Usage is the model's reported token usage.
type Usage struct {
	PromptTokens     int `json:"promptTokens"`
	CompletionTokens int `json:"completionTokens"`
	TotalTokens      int `json:"totalTokens"`
}

// CaptureRequest settles a hold with the actual usage.
type CaptureRequest struct {
	ReservationID  string
	Usage          Usage
	IdempotencyKey string
}

// CaptureResult is what a capture did.
type CaptureResult struct {
	ReservationID string    `json:"reservationId"`
	Usage         Usage     `json:"usage"`
	Charged       int64     `json:"charged"`  // moved held → spent
	Returned      int64     `json:"returned"` // moved held → available
	CapturedAt    time.Time `json:"capturedAt"`
}

// ReleaseRequest cancels a hold.
type ReleaseRequest struct {
	ReservationID  string
	IdempotencyKey string
}

// ReleaseResult is what a release did.
type ReleaseResult struct {
	ReservationID string    `json:"reservationId"`
	Returned      int64     `json:"returned"`
	ReleasedAt    time.Time `json:"releasedAt"`
}

// AuditReport summarises Audit. Violations is empty when every invariant
// holds: each journal transaction sums to zero, each account balance equals
// its journal entries, no balance except funding is negative, all balances
// sum to zero (money is conserved), each resolved hold split exactly its
// amount (captured + returned = amount, captured <= amount), each active hold
// is fully held, and each idempotency key has at most one journal effect.
type AuditReport struct {
	Transactions int      `json:"transactions"`
	Entries      int      `json:"entries"`
	Accounts     int      `json:"accounts"`
	Reservations int      `json:"reservations"`
	Violations   []string `json:"violations,omitempty"`
}

// Config selects and configures a backend.
type Config struct {
	// Driver is "sqlite" or "postgres"; empty picks by DSN: a postgres:// or
	// postgresql:// URL, or PostgreSQL's key=value form (host=... dbname=...),
	// is PostgreSQL, anything else a SQLite file path.
	Driver string
	// DSN is the SQLite file path or the PostgreSQL connection string.
	// (SQLite ":memory:" is refused: every connection would get its own db.)
	DSN string
	// Catalog is the model allowlist; nil means DefaultCatalog().
	Catalog []Model
	// MaxConns bounds the PostgreSQL pool and SQLite's reader pool (default 16).
	MaxConns int
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Open opens (creating and migrating if needed) a ledger.
func Open(ctx context.Context, cfg Config) (Ledger, error) {
	cat, err := newCatalog(cfg.Catalog)
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 16
	}
	driver := cfg.Driver
	if driver == "" {
		if isPostgresURL(cfg.DSN) || isPostgresKeyValue(cfg.DSN) {
			driver = "postgres"
		} else {
			driver = "sqlite"
		}
	}
	switch driver {
	case "sqlite":
		return openSQLite(ctx, cfg, cat)
	case "postgres", "postgresql", "pgx":
		return openPostgres(ctx, cfg, cat)
	default:
		return nil, fmt.Errorf("ledger: unknown driver %q (want sqlite or postgres)", cfg.Driver)
	}
}

// --- shared validation, fingerprints and ids --------------------------------

const maxIDLen = 256

func checkID(what, v string) error {
	if strings.TrimSpace(v) == "" {
		return reject(ReasonInvalidArgument, "%s is empty", what)
	}
	if len(v) > maxIDLen {
		return reject(ReasonInvalidArgument, "%s is longer than %d bytes", what, maxIDLen)
	}
	return nil
}

func validateReserve(req *ReserveRequest) error {
	if err := checkID("userID", req.UserID); err != nil {
		return err
	}
	if err := checkID("modelID", req.ModelID); err != nil {
		return err
	}
	if err := checkID("idempotency key", req.IdempotencyKey); err != nil {
		return err
	}
	if req.PromptTokens <= 0 || req.PromptTokens > MaxTokens {
		return reject(ReasonInvalidArgument, "promptTokens %d out of range [1, %d]", req.PromptTokens, MaxTokens)
	}
	if req.TTL != 0 && (req.TTL < MinHoldTTL || req.TTL > MaxHoldTTL) {
		return reject(ReasonInvalidArgument, "TTL %v out of range [%v, %v] (0 = %v)", req.TTL, MinHoldTTL, MaxHoldTTL, DefaultHoldTTL)
	}
	if req.TTL == 0 {
		req.TTL = DefaultHoldTTL
	}
	return nil
}

// validateUsage checks the usage on its own, with the rule the provider
// applies to a model's answer (tokenusage.Check); the bound against the
// hold's MaxTokens needs the reservation and is checked by the backend.
func validateUsage(u Usage) error {
	if err := tokenusage.Check(u.PromptTokens, u.CompletionTokens, u.TotalTokens); err != nil {
		return reject(ReasonInvalidUsage, "usage %+v: %v", u, err)
	}
	return nil
}

func validateCredit(userID string, amount int64, key string) error {
	if err := checkID("userID", userID); err != nil {
		return err
	}
	if err := checkID("idempotency key", key); err != nil {
		return err
	}
	if amount <= 0 || amount > MaxCreditAmount {
		return reject(ReasonInvalidAmount, "credit amount %d out of range [1, %d]", amount, MaxCreditAmount)
	}
	return nil
}

// Operation names, stored with each idempotency key.
const (
	opCredit  = "credit"
	opReserve = "reserve"
	opCapture = "capture"
	opRelease = "release"
)

// Fingerprints identify a request's parameters; %q keeps fields unambiguous.
func fpCredit(userID string, amount int64) string {
	return fmt.Sprintf("credit|%q|%d", userID, amount)
}

func fpReserve(r ReserveRequest) string {
	return fmt.Sprintf("reserve|%q|%q|%d|%d", r.UserID, r.ModelID, r.PromptTokens, r.TTL)
}

func fpCapture(r CaptureRequest) string {
	return fmt.Sprintf("capture|%q|%d|%d|%d", r.ReservationID, r.Usage.PromptTokens, r.Usage.CompletionTokens, r.Usage.TotalTokens)
}

func fpRelease(r ReleaseRequest) string {
	return fmt.Sprintf("release|%q", r.ReservationID)
}

// Account names of the double-entry journal. Each user has its own "spent"
// account (revenue recognised from that user) rather than one global revenue
// row, so captures of different users never contend on one row; total revenue
// is the sum of the spent accounts. funding is the source of all credits and
// the only account allowed to go negative.
const accountFunding = "funding"

func accAvailable(user string) string { return "user:" + user + ":available" }
func accHeld(user string) string      { return "user:" + user + ":held" }
func accSpent(user string) string     { return "user:" + user + ":spent" }

// sortedEntries orders a transaction's entries by account name: every
// writer then locks account rows in the same order (PostgreSQL deadlocks).
func sortedEntries(es []entry) []entry {
	out := append([]entry(nil), es...)
	sort.Slice(out, func(i, j int) bool { return out[i].account < out[j].account })
	return out
}

type entry struct {
	account, user, kind string
	amount              int64
}

func newReservationID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("ledger: reservation id: %w", err)
	}
	return "res_" + hex.EncodeToString(b[:]), nil
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("ledger: encode %T: %w", v, err)
	}
	return string(b), nil
}
