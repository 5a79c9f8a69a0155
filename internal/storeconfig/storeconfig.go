// Package storeconfig declares where the binaries keep their data (the
// image blob folder and the credit ledger), settings the worker and the
// starter share, so each is declared once.
package storeconfig

import "github.com/inferflow/inferflow/internal/envflag"

// Settings are the storage settings.
var Settings = struct {
	BlobDir   envflag.Spec[string]
	LedgerDSN envflag.Spec[string]
}{
	BlobDir: envflag.Spec[string]{Flag: "blob-dir", Env: "INFERFLOW_BLOB_DIR", Default: ".data/blobs",
		Help: "image blob store folder (shared by the worker and the starter)", Check: envflag.NotBlank},
	LedgerDSN: envflag.Spec[string]{Flag: "ledger-dsn", Env: "INFERFLOW_LEDGER_DSN", Default: ".data/ledger.db",
		Help: "credit ledger: a SQLite file path, or a postgres:// DSN", Check: envflag.NotBlank},
}
