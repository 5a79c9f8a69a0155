// Package caller is a scripted caller of the realtime process: it dials the
// WHIP endpoint, streams Opus packets in real time as a microphone would,
// counts the assistant's audio, collects the events the session sends, and
// hangs up once the assistant has finished answering. The command-line
// caller, the end-to-end tests and the load generator use it.
package caller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/inferflow/inferflow/internal/codec"
	"github.com/inferflow/inferflow/internal/rtc"
	"github.com/inferflow/inferflow/internal/voice"
)

// Options describe one call.
type Options struct {
	// URL of the WHIP endpoint, e.g. http://127.0.0.1:8088/whip.
	URL   string
	Token string
	// Packets are the caller's 20 ms Opus packets, sent one per 20 ms.
	Packets [][]byte
	// MinTail and MaxTail bound how long the call stays open after the
	// last packet (sending silence): at least MinTail [1s], then until no
	// response is in flight for 600 ms, at most MaxTail [20s].
	MinTail, MaxTail time.Duration
	// OnMessage sees every event as it arrives; optional.
	OnMessage func(m voice.Message)
	// OnRaw sees every data-channel message's bytes as they arrive, even
	// one that is not an event (tests that read the channel as it is sent).
	OnRaw func(raw []byte)
	// RTC tunes the peer (loss, reordering, network); optional.
	RTC rtc.ClientOptions
	// Vanish ends the call by going silent without hanging up.
	Vanish bool
}

// Result is what the caller saw.
type Result struct {
	Location    string
	Messages    []voice.Message
	AudioIn     int // assistant audio packets received
	PacketsSent int
	Stats       rtc.Stats
}

// Count returns how many messages of a type arrived.
func (r Result) Count(t voice.MessageType) int {
	n := 0
	for _, m := range r.Messages {
		if m.Type == t {
			n++
		}
	}
	return n
}

// Silence returns one 20 ms Opus packet of silence.
func Silence() ([]byte, error) {
	pkts, err := codec.EncodePCM(make([]int16, codec.FrameSamples), codec.SampleRate, codec.EncoderConfig{})
	if err != nil {
		return nil, err
	}
	return pkts[0], nil
}

// Run makes the call and returns when it has ended.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.MinTail == 0 {
		o.MinTail = time.Second
	}
	if o.MaxTail == 0 {
		o.MaxTail = 20 * time.Second
	}
	silence, err := Silence()
	if err != nil {
		return Result{}, err
	}
	c, err := rtc.Dial(ctx, o.URL, o.Token, o.RTC)
	if err != nil {
		return Result{}, err
	}
	var res Result
	res.Location = c.Location()
	defer func() {
		if o.Vanish {
			c.Vanish()
			c.Abort()
			return
		}
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = c.Close(closeCtx)
		cancel()
	}()

	var (
		mu       sync.Mutex
		inFlight int
		unbilled int // completed responses whose charge has not been reported
		lastDone time.Time
		ended    = make(chan struct{})
		endOnce  sync.Once
	)
	readCtx, stopReading := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // assistant audio
		defer wg.Done()
		for {
			if _, err := c.ReadPacket(readCtx); err != nil {
				return
			}
			mu.Lock()
			res.AudioIn++
			mu.Unlock()
		}
	}()
	go func() { // events
		defer wg.Done()
		for {
			select {
			case <-readCtx.Done():
				return
			case raw := <-c.Events():
				if o.OnRaw != nil {
					o.OnRaw(raw)
				}
				var m voice.Message
				if json.Unmarshal(raw, &m) != nil {
					continue
				}
				mu.Lock()
				res.Messages = append(res.Messages, m)
				switch m.Type {
				case voice.MsgResponseStarted:
					inFlight++
				case voice.MsgResponseDone:
					inFlight--
					lastDone = time.Now()
					if m.Status == "completed" {
						unbilled++
					}
				case voice.MsgResponseBilled:
					unbilled--
				case voice.MsgSessionEnded:
					endOnce.Do(func() { close(ended) })
				}
				mu.Unlock()
				if o.OnMessage != nil {
					o.OnMessage(m)
				}
			}
		}
	}()
	err = stream(ctx, c, o, silence, ended, func() bool {
		mu.Lock()
		defer mu.Unlock()
		// Quiet: no answer in flight, and each answer's charge reported (or
		// given up on after 5 s).
		since := time.Since(lastDone)
		return inFlight <= 0 && since > 600*time.Millisecond && (unbilled <= 0 || since > 5*time.Second)
	}, &res.PacketsSent)
	stopReading()
	wg.Wait()
	res.Stats = c.Stats()
	return res, err
}

// stream sends the packets in real time, then silence for the tail.
func stream(ctx context.Context, c *rtc.Client, o Options, silence []byte, ended <-chan struct{}, quiet func() bool, sent *int) error {
	tick := time.NewTicker(codec.FrameDuration)
	defer tick.Stop()
	send := func(p []byte) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ended:
			return errors.New("caller: the server ended the call")
		case <-tick.C:
		}
		*sent++
		return c.WriteAudio(p, codec.FrameDuration)
	}
	for _, p := range o.Packets {
		if err := send(p); err != nil {
			return err
		}
	}
	tailStart := time.Now()
	for {
		since := time.Since(tailStart)
		if since >= o.MaxTail || (since >= o.MinTail && quiet()) {
			return nil
		}
		if err := send(silence); err != nil {
			return fmt.Errorf("during the tail: %w", err)
		}
	}
}
