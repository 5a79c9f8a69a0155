package payloadcrypt

import (
	"crypto/subtle"
	"net/http"
	"slices"

	"go.temporal.io/sdk/converter"
)

// maxBody bounds a codec request: Temporal refuses payloads over 2 MiB, and
// the Web UI sends an event's payloads together.
const maxBody = 16 << 20

// Handler is the codec server of the Temporal codec server protocol: POST
// .../encode and .../decode with {"payloads":[...]} as JSON, answered with
// the payloads encoded or decoded by the keyring. The Web UI calls it from
// the browser, so it answers CORS preflights for origins; with token set, a
// request must carry Authorization: Bearer token (`temporal --codec-auth`).
func Handler(keys *Keyring, origins []string, token string) http.Handler {
	codec := converter.NewPayloadCodecHTTPHandler(Codec{Keys: keys})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(origins, origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if token != "" && !bearer(r, token) {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		codec.ServeHTTP(w, r)
	})
}

func bearer(r *http.Request, token string) bool {
	got := r.Header.Get("Authorization")
	want := "Bearer " + token
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
