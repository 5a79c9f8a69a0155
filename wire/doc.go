// Package wire holds what travels through Temporal between inferflow's
// callers, workflows and activities: workflow and activity inputs and
// results, their registered names, error codes, job states and DLQ records.
//
// These types are the JSON of workflow history. Histories outlive the code
// that wrote them (a reconciliation may run for a day), so a field's JSON
// name never changes silently: a renamed field keeps decoding its old name
// (see Usage). The package depends on the standard library only, so the
// workflow layer and a backend's client link nothing else through it.
//
// A new workflow adds its own file here (inputs, results, failure details,
// activity payloads), its names to names.go and its codes to codes.go.
package wire
