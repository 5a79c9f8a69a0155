package rtc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
)

// goodOffer is a browser-like offer (Opus audio and a data channel) that
// the server answers 201; recorded once from Pion (makeOffer).
func goodOffer(f *testing.F) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "offer-opus-datachannel.sdp"))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzCheckOffer: any offer is accepted or refused with an *OfferError,
// never a panic; an accepted offer still passes after Pion re-encodes it.
func FuzzCheckOffer(f *testing.F) {
	f.Add(goodOffer(f))
	f.Add([]byte(pcmuOnlyOffer))
	f.Add([]byte(opusWithoutICEOffer))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n"))
	f.Add([]byte("hello"))
	f.Fuzz(func(t *testing.T, offer []byte) {
		hasApp, err := checkOffer(offer)
		if err != nil {
			var oe *OfferError
			if !errors.As(err, &oe) || oe.Reason == "" {
				t.Fatalf("untyped refusal %T: %v", err, err)
			}
			return
		}
		var sd sdp.SessionDescription
		if err := sd.UnmarshalString(string(offer)); err != nil {
			t.Fatalf("accepted an offer that does not parse: %v", err)
		}
		again, err := sd.Marshal()
		if err != nil {
			t.Fatalf("accepted offer does not re-encode: %v", err)
		}
		hasApp2, err := checkOffer(again)
		if err != nil || hasApp2 != hasApp {
			t.Fatalf("re-encoded offer: %v, data channel %v then %v\n%q\n%q", err, hasApp, hasApp2, offer, again)
		}
	})
}

// FuzzWHIPRequest: any request to the WHIP handler gets a defined answer,
// never a panic and never a 500: 201 with an SDP answer and a session
// Location, 200 for a session's GET or DELETE, or an error status with the
// JSON error body (code and message) and the header its status calls for.
// Nothing stays behind: a created session is deleted, and the server closes
// clean at the end (TestMain checks for leaked goroutines).
func FuzzWHIPRequest(f *testing.F) {
	good := goodOffer(f)
	bearer := "Bearer " + aliceToken
	f.Add("POST", WHIPPath, bearer, "application/sdp", good) // 201
	f.Add("POST", WHIPPath, bearer, "application/sdp; charset=utf-8", []byte(opusWithoutICEOffer))
	f.Add("POST", WHIPPath, bearer, "application/sdp", []byte(pcmuOnlyOffer))
	f.Add("POST", WHIPPath, "Basic "+aliceToken, "application/sdp", good)
	f.Add("POST", WHIPPath, "Bearer nope", "application/sdp", good)
	f.Add("POST", WHIPPath, bearer, "application/json", []byte(`{"sdp":"x"}`))
	f.Add("GET", WHIPPath+"/nope", bearer, "", []byte{})
	f.Add("DELETE", WHIPPath+"/nope", bearer, "", []byte{})
	f.Add("PATCH", WHIPPath+"/x", bearer, "application/trickle-ice-sdpfrag", []byte("a=end-of-candidates\r\n"))
	f.Add("GET", "/other", "", "", []byte{})

	cfg := testConfig(f)
	cfg.GatherTimeout = 200 * time.Millisecond
	srv, err := NewServer(cfg, func(ctx context.Context, s *Session) { <-ctx.Done() })
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			f.Errorf("server close: %v", err)
		}
	})
	h := srv.Handler()
	serve := func(method, path, auth, contentType string, body []byte) (*httptest.ResponseRecorder, bool) {
		req, err := http.NewRequest(method, "http://whip.test"+path, bytes.NewReader(body))
		if err != nil {
			return nil, false // no such HTTP request: net/http refuses it first
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w, true
	}

	f.Fuzz(func(t *testing.T, method, path, auth, contentType string, body []byte) {
		w, ok := serve(method, path, auth, contentType, body)
		if !ok {
			return
		}
		switch w.Code {
		case http.StatusCreated:
			loc := w.Header().Get("Location")
			var sd sdp.SessionDescription
			if !strings.HasPrefix(loc, WHIPPath+"/") || w.Header().Get("Content-Type") != "application/sdp" ||
				sd.UnmarshalString(w.Body.String()) != nil {
				t.Fatalf("201 without a session Location or an SDP answer: %v\n%s", w.Header(), w.Body)
			}
			if d, _ := serve(http.MethodDelete, loc, auth, "", nil); d.Code != http.StatusOK {
				t.Fatalf("DELETE %s: %d %s", loc, d.Code, d.Body)
			}
			return
		case http.StatusOK:
			if method != http.MethodGet && method != http.MethodDelete {
				t.Fatalf("200 for %s", method)
			}
			return
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusMethodNotAllowed,
			http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusTooManyRequests,
			http.StatusServiceUnavailable:
		default:
			t.Fatalf("status %d for %s %q: %s", w.Code, method, path, w.Body)
		}
		var eb errorBody
		if w.Header().Get("Content-Type") != "application/json" || json.Unmarshal(w.Body.Bytes(), &eb) != nil ||
			eb.Error == "" || eb.Message == "" {
			t.Fatalf("%d without the JSON error body: %q", w.Code, w.Body)
		}
		need := map[int]string{401: "WWW-Authenticate", 405: "Allow", 429: "Retry-After", 503: "Retry-After"}[w.Code]
		if need != "" && w.Header().Get(need) == "" {
			t.Fatalf("%d without %s", w.Code, need)
		}
	})
}

// The recorded offer FuzzWHIPRequest starts from is answered 201, so the
// fuzzer begins at a created session, not only at refusals.
func TestRecordedOfferIsAnswered(t *testing.T) {
	offer, err := os.ReadFile(filepath.Join("testdata", "offer-opus-datachannel.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, testConfig(t))
	req, _ := http.NewRequest(http.MethodPost, h.url(), bytes.NewReader(offer))
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var s *Session
	select {
	case s = <-h.sessions: // started; nobody will connect to it
	case <-time.After(3 * time.Second):
		t.Fatal("no session started")
	}
	s.Close("test over")
	waitDone(t, s, 2*time.Second)
	http.DefaultClient.CloseIdleConnections()
}
