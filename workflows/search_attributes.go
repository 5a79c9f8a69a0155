package workflows

import "go.temporal.io/sdk/temporal"

// Custom search attributes, registered by temporal-dev.yaml on the dev server
// (and by `temporal operator search-attribute create` elsewhere), so the Web
// UI and `temporal workflow list --query` can filter runs.
var (
	ItemIDKey           = temporal.NewSearchAttributeKeyKeyword("ItemId")
	ConsensusOutcomeKey = temporal.NewSearchAttributeKeyKeyword("ConsensusOutcome")
	JobIDKey            = temporal.NewSearchAttributeKeyKeyword("JobId")
	BillingStateKey     = temporal.NewSearchAttributeKeyKeyword("BillingState")
	// A voice session's: who is talking and whether the session is still
	// open (its VoiceState).
	VoiceUserKey  = temporal.NewSearchAttributeKeyKeyword("VoiceUser")
	VoiceStateKey = temporal.NewSearchAttributeKeyKeyword("VoiceState")
	// VoiceOwner: the realtime process that owns the call (its instance
	// id), set at start; a restarted process finds the sessions it lost.
	VoiceOwnerKey = temporal.NewSearchAttributeKeyKeyword("VoiceOwner")
	// A batch's id (on the batch and on each evaluation it starts) and
	// state (BatchState*).
	BatchIDKey    = temporal.NewSearchAttributeKeyKeyword("BatchId")
	BatchStateKey = temporal.NewSearchAttributeKeyKeyword("BatchState")
)

// SearchAttributes lists every custom attribute the project uses, for tests
// and for registering them on a server.
var SearchAttributes = []temporal.SearchAttributeKey{ItemIDKey, ConsensusOutcomeKey, JobIDKey, BillingStateKey, VoiceUserKey, VoiceStateKey, BatchIDKey, BatchStateKey, VoiceOwnerKey}
