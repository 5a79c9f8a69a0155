// Command caller calls the realtime process as a person would: it plays a
// WAV file (mono, 16-bit) into a WebRTC call in real time, prints the
// events the session sends (turns, responses, billing, the gate's state),
// waits for the assistant to finish answering, and hangs up.
//
//	go run ./cmd/caller --wav testdata/call-two-turns.wav
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/inferflow/inferflow/internal/caller"
	"github.com/inferflow/inferflow/internal/codec"
	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/rtc"
	"github.com/inferflow/inferflow/internal/voice"
)

var settings = struct {
	URL, Token, WAV envflag.Spec[string]
	Loss            envflag.Spec[int]
	Figures         envflag.Spec[bool]
}{
	URL: envflag.Spec[string]{Flag: "url", Env: "INFERFLOW_REALTIME_URL", Default: "http://127.0.0.1:8088/whip",
		Help: "the realtime process's WHIP endpoint", Check: envflag.HTTPURL},
	Token: envflag.Spec[string]{Env: "INFERFLOW_REALTIME_TOKEN", Default: "inferflow-dev-token", Secret: true,
		Help: "bearer token (the development token by default)", Check: envflag.NotBlank},
	WAV: envflag.Spec[string]{Flag: "wav", Env: "INFERFLOW_CALLER_WAV", Default: "testdata/call-two-turns.wav",
		Help: "mono 16-bit WAV file to speak (8, 16, 24 or 48 kHz)", Check: envflag.NotBlank},
	Loss: envflag.Spec[int]{Flag: "loss", Env: "INFERFLOW_CALLER_LOSS",
		Help: "percent of packets to drop on the way (network loss drill)", Check: func(v int) error {
			if v < 0 || v > 50 {
				return errors.New("want 0..50")
			}
			return nil
		}},
	Figures: envflag.Spec[bool]{Flag: "figures", Env: "INFERFLOW_CALLER_FIGURES",
		Help: "also print the gate's figures (4 times a second)"},
}

type options struct {
	url, token, wav string
	loss            int
	figures         bool
}

func (o *options) register(s *envflag.Set) {
	envflag.Var(s, &o.url, settings.URL)
	envflag.Var(s, &o.token, settings.Token)
	envflag.Var(s, &o.wav, settings.WAV)
	envflag.Var(s, &o.loss, settings.Loss)
	envflag.Var(s, &o.figures, settings.Figures)
}

func main() {
	var o options
	s := envflag.New("caller")
	o.register(s)
	if err := s.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "caller: configuration error:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o.url, o.token, o.wav, o.loss, o.figures); err != nil {
		fmt.Fprintln(os.Stderr, "caller:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url, token, wav string, loss int, figures bool) error {
	f, err := os.Open(wav)
	if err != nil {
		return fmt.Errorf("--wav: %w", err)
	}
	pkts, err := codec.EncodeWAV(f, codec.EncoderConfig{})
	f.Close()
	if err != nil {
		return fmt.Errorf("--wav %s: %w", wav, err)
	}
	fmt.Printf("Calling %s with %s (%.1f s of audio) ...\n", url, wav, float64(len(pkts))*codec.FrameDuration.Seconds())
	start := time.Now()
	res, err := caller.Run(ctx, caller.Options{
		URL: url, Token: token, Packets: pkts,
		RTC: rtc.ClientOptions{DropRate: float64(loss) / 100},
		OnMessage: func(m voice.Message) {
			if m.Type == voice.MsgGateFigures && !figures {
				return
			}
			fmt.Printf("%7.2fs  %s\n", time.Since(start).Seconds(), describe(m))
		},
	})
	var he *rtc.HTTPError
	if errors.As(err, &he) {
		return fmt.Errorf("the realtime process refused the call: %d %s: %s%s", he.Status, he.Code, he.Message, hint(he))
	}
	if err != nil {
		return err
	}
	fmt.Printf("\nHung up after %.1f s: %d turns, %d responses (%d refused, %d interrupted), %d assistant audio packets heard.\n",
		time.Since(start).Seconds(), res.Count(voice.MsgTurnEnded), res.Count(voice.MsgResponseDone),
		res.Count(voice.MsgResponseRefused), res.Count(voice.MsgInterruption), res.AudioIn)
	for _, m := range res.Messages {
		if m.Type == voice.MsgSessionStarted && m.WorkflowID != "" {
			fmt.Printf("The call's record: workflow %s (Temporal Web UI: http://localhost:8233/namespaces/default/workflows/%s)\n", m.WorkflowID, m.WorkflowID)
		}
	}
	return nil
}

func hint(he *rtc.HTTPError) string {
	switch he.Status {
	case 401:
		return "\n  set INFERFLOW_REALTIME_TOKEN to a token the realtime process accepts (INFERFLOW_REALTIME_TOKENS there)"
	case 429:
		return "\n  too many calls at once; retry after " + he.RetryAfter + " s"
	}
	return ""
}

// describe prints one event on a line.
func describe(m voice.Message) string {
	var b strings.Builder
	b.WriteString(string(m.Type))
	add := func(k string, v any) { fmt.Fprintf(&b, " %s=%v", k, v) }
	switch m.Type {
	case voice.MsgGateState:
		add("state", m.Previous+"→"+m.State)
		add("reason", m.Reason)
	case voice.MsgGateBarrier:
		if m.Closed != nil {
			add("closed", *m.Closed)
		}
		if m.Reason != "" {
			add("reason", m.Reason)
		}
	case voice.MsgTurnStarted:
		add("turn", m.Turn)
	case voice.MsgTurnEnded:
		add("turn", m.Turn)
		add("durationMs", m.DurationMs)
		add("framesAdmitted", m.FramesAdmitted)
	case voice.MsgResponseStarted, voice.MsgInterruption:
		add("response", m.ResponseSeq)
		add("id", m.ResponseID)
	case voice.MsgResponseDone:
		add("response", m.ResponseSeq)
		add("status", m.Status)
		if m.Usage != nil {
			add("tokens", fmt.Sprintf("%d in/%d out", m.Usage.InputTokens, m.Usage.OutputTokens))
		}
	case voice.MsgResponseBilled:
		add("response", m.ResponseSeq)
		if m.Charged != nil {
			add("charged", fmt.Sprintf("%d micro-credits", *m.Charged))
		}
		if m.Balance != nil {
			add("balance", *m.Balance)
		}
	case voice.MsgTranscript:
		add("text", fmt.Sprintf("%q", m.Text))
	case voice.MsgGateFigures:
		if f := m.Figures; f != nil {
			add("turnState", f.TurnState)
			add("admitted", f.Admitted)
			add("held", f.Held)
			add("dropped", f.Dropped)
			add("noiseFloorDb", fmt.Sprintf("%.1f", f.NoiseFloorDB))
		}
	default:
		if m.ResponseSeq != 0 {
			add("response", m.ResponseSeq)
		}
		if m.Reason != "" {
			add("reason", m.Reason)
		}
		if m.WorkflowID != "" {
			add("workflow", m.WorkflowID)
		}
		if m.Text != "" {
			add("text", m.Text)
		}
	}
	return b.String()
}
