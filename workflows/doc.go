// Package workflows holds inferflow's workflows: ConsensusEvaluation,
// InferenceJob (the billed saga), Reconcile, ExpireHolds and VoiceSession
// (one realtime voice call, billed per response through the saga's
// activities).
//
// The layer is sealed: it imports the Temporal SDK, the standard library and
// package wire only (TestSealedPackages). Workflows call activities by their
// wire names (wire.Activity*) with wire inputs, so a storage or provider
// type never becomes the format of workflow history, and workflowcheck
// (make lint) keeps the code deterministic.
//
// Each workflow reads as its story; what it shows observers (queries,
// metrics, logs, search attributes) is done by a small recorder beside it
// (consensus_recorder.go, inference_recorder.go).
//
// Changing workflow code: histories in flight must replay. The replay test
// replays recorded histories of the main paths (testdata/histories, and
// legacy/ from before package wire); a change that issues other commands
// fails it. Gate such a change with workflow.GetVersion and keep the old
// path; then keep the current histories in a folder of their own that the
// test also replays (as legacy/), and record new ones (go test ./integration
// -run RecordHistories -record).
//
// A new workflow: its inputs, results, failure details and activity payloads
// go in a file of package wire, its names in wire/names.go, its error codes
// as wire.Code constants in wire/codes.go; its workflow and activities are
// registered in package registry; its story and recorder go here.
// (VoiceSession's own API, the input, signals, update and summary the
// realtime process exchanges with it, stays in voice_types.go beside it;
// its activity payloads, names and codes are wire's.)
package workflows
