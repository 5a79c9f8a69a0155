package ledger

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/inferflow/inferflow/internal/tokenusage"
)

// Bounds that keep every computation far inside its type: with prices up to
// MaxPricePer1K and token counts up to MaxTokens, tokens*price stays below
// 5.4e17 per term and the two-term sum below 1.1e18 (int64 max ~9.2e18), and
// prompt + completion token sums fit a 32-bit integer (PostgreSQL int).
const (
	MaxPricePer1K = 1_000_000_000 // micro-credits per 1K tokens (1,000 credits)
	MaxTokens     = tokenusage.MaxTokens
)

// Model is one allowlisted model and its price. Prices are integer
// micro-credits per 1,000 tokens.
type Model struct {
	ID                  string `json:"id"`
	PromptPer1K         int64  `json:"promptPer1K"`
	CompletionPer1K     int64  `json:"completionPer1K"`
	MaxCompletionTokens int    `json:"maxCompletionTokens"`
	Disabled            bool   `json:"disabled,omitempty"`
}

// Validate checks a catalog entry.
func (m Model) Validate() error {
	switch {
	case m.ID == "" || strings.TrimSpace(m.ID) != m.ID || strings.ContainsAny(m.ID, ",:"):
		return fmt.Errorf("model id %q: must be non-empty, without spaces at the ends, ',' or ':'", m.ID)
	case m.PromptPer1K < 0 || m.PromptPer1K > MaxPricePer1K:
		return fmt.Errorf("model %q: prompt price %d out of range [0, %d]", m.ID, m.PromptPer1K, int64(MaxPricePer1K))
	case m.CompletionPer1K < 0 || m.CompletionPer1K > MaxPricePer1K:
		return fmt.Errorf("model %q: completion price %d out of range [0, %d]", m.ID, m.CompletionPer1K, int64(MaxPricePer1K))
	case m.MaxCompletionTokens <= 0 || m.MaxCompletionTokens > MaxTokens:
		return fmt.Errorf("model %q: max completion tokens %d out of range [1, %d]", m.ID, m.MaxCompletionTokens, MaxTokens)
	}
	return nil
}

// Cost is the price of the given token counts at this model's prices:
// ceil((prompt*PromptPer1K + completion*CompletionPer1K) / 1000)
// (CONTRACT.md#charges-and-rounding).
// Rounding happens once, on the sum, and always up, so a request is never
// billed below its exact fractional price and never more than one
// micro-credit above it. Callers bound the counts (see MaxTokens).
func (m Model) Cost(promptTokens, completionTokens int) int64 {
	return costAt(m.PromptPer1K, m.CompletionPer1K, promptTokens, completionTokens)
}

func costAt(promptPer1K, completionPer1K int64, promptTokens, completionTokens int) int64 {
	micro1K := int64(promptTokens)*promptPer1K + int64(completionTokens)*completionPer1K
	return (micro1K + 999) / 1000
}

// ExpectedCost is the hold for a request: the prompt estimate plus the
// model's maximum completion, priced with Cost (same rounding).
func ExpectedCost(m Model, promptTokens int) int64 {
	return m.Cost(promptTokens, m.MaxCompletionTokens)
}

// DefaultCatalog is the offline-friendly default allowlist.
func DefaultCatalog() []Model {
	return []Model{
		{ID: "offline-small", PromptPer1K: 100, CompletionPer1K: 200, MaxCompletionTokens: 1024},
		{ID: "gpt-4o", PromptPer1K: 2500, CompletionPer1K: 10000, MaxCompletionTokens: 4096},
		{ID: "claude-3-5-sonnet", PromptPer1K: 3000, CompletionPer1K: 15000, MaxCompletionTokens: 4096},
	}
}

// ParseCatalog parses a compact catalog:
//
//	id:promptPer1K:completionPer1K:maxCompletionTokens[:disabled],...
//
// e.g. "gpt-4o:2500:10000:4096,claude-3-5-sonnet:3000:15000:4096". Blank
// entries are ignored; duplicate ids and an empty catalog are errors.
func ParseCatalog(s string) ([]Model, error) {
	var out []Model
	seen := map[string]bool{}
	for i, raw := range strings.Split(s, ",") {
		entry := strings.TrimSpace(raw)
		if entry == "" {
			continue
		}
		m, err := parseEntry(entry)
		if err != nil {
			return nil, fmt.Errorf("ledger: catalog entry %d %q: %w", i+1, entry, err)
		}
		if seen[m.ID] {
			return nil, fmt.Errorf("ledger: catalog entry %d %q: duplicate model id %q", i+1, entry, m.ID)
		}
		seen[m.ID] = true
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ledger: catalog %q has no models", s)
	}
	return out, nil
}

func parseEntry(entry string) (Model, error) {
	f := strings.Split(entry, ":")
	if len(f) != 4 && len(f) != 5 {
		return Model{}, fmt.Errorf("want id:promptPer1K:completionPer1K:maxCompletionTokens[:disabled], got %d fields", len(f))
	}
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	m := Model{ID: f[0]}
	var err error
	if m.PromptPer1K, err = strconv.ParseInt(f[1], 10, 64); err != nil {
		return Model{}, fmt.Errorf("prompt price %q is not an integer (micro-credits per 1K tokens)", f[1])
	}
	if m.CompletionPer1K, err = strconv.ParseInt(f[2], 10, 64); err != nil {
		return Model{}, fmt.Errorf("completion price %q is not an integer (micro-credits per 1K tokens)", f[2])
	}
	if m.MaxCompletionTokens, err = strconv.Atoi(f[3]); err != nil {
		return Model{}, fmt.Errorf("max completion tokens %q is not an integer", f[3])
	}
	if len(f) == 5 {
		switch f[4] {
		case "disabled":
			m.Disabled = true
		case "enabled":
		default:
			return Model{}, fmt.Errorf("flag %q: want \"disabled\" or \"enabled\"", f[4])
		}
	}
	if err := m.Validate(); err != nil {
		return Model{}, err
	}
	return m, nil
}

// catalog is the in-memory, read-only lookup built at Open.
type catalog map[string]Model

func newCatalog(models []Model) (catalog, error) {
	if models == nil {
		models = DefaultCatalog()
	}
	c := make(catalog, len(models))
	for _, m := range models {
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("ledger: catalog: %w", err)
		}
		if _, dup := c[m.ID]; dup {
			return nil, fmt.Errorf("ledger: catalog: duplicate model id %q", m.ID)
		}
		c[m.ID] = m
	}
	return c, nil
}

// lookup returns the model for a reservation or the business rejection.
func (c catalog) lookup(id string) (Model, error) {
	m, ok := c[id]
	if !ok {
		return Model{}, reject(ReasonUnknownModel, "model %q is not in the catalog", id)
	}
	if m.Disabled {
		return Model{}, reject(ReasonModelDisabled, "model %q is disabled", id)
	}
	return m, nil
}

func catalogList(c catalog) []Model {
	out := make([]Model, 0, len(c))
	for _, m := range c {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
