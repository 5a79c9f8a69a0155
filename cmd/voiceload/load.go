package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inferflow/inferflow/internal/codec"
	"github.com/inferflow/inferflow/internal/rtc"
	"github.com/inferflow/inferflow/internal/voice"
)

// runConfig is one load level.
type runConfig struct {
	n            int
	window       time.Duration // measured, once every call streams
	stagger      time.Duration
	settle       time.Duration
	dialParallel int
	connectFor   time.Duration // after the stagger, calls not up by then count as failed
	packets      [][]byte
	cores        int
	budgetMs     float64
	profile      bool
	dir          string // logs and profiles
	rt           realtimeOptions
}

// callResult is what one caller saw and what the server said of its call.
type callResult struct {
	err     error
	view    voice.CallView
	hasView bool
	client  rtc.Stats
	// behind counts packets sent more than a frame after their time (the
	// load generator itself fell behind); maxBehind is the worst lag.
	behind    int
	maxBehind time.Duration
}

// runResult is one load level's figures.
type runResult struct {
	N, Connected, Viewed int
	DialErrors           []string
	Connect              time.Duration // from the first dial until every call streamed
	Window               time.Duration
	CPUShare             float64 // realtime process, fraction of all cores
	LoadGenShare         float64 // this process, same unit
	RunWait, LoadGenWait float64 // threads runnable but waiting for a CPU, per second
	RSSIdle, RSSSteady   uint64  // bytes: before the calls, peak during the window
	Latency              latencySummary
	Sent, Received       uint64
	Lost, Late           uint64
	Concealed, Dropped   uint64
	Frames               uint64
	SentBehind           int
	MaxBehind            time.Duration
	LoadAvg1             float64
	Profile              []categoryTime
	ProfileTotal         time.Duration
	ProfilePath          string
}

func (r runResult) perSessionMB() float64 {
	if r.Connected == 0 || r.RSSSteady < r.RSSIdle {
		return 0
	}
	return float64(r.RSSSteady-r.RSSIdle) / float64(r.Connected) / (1 << 20)
}

// perCallMs turns a share of the cores into CPU milliseconds per second
// of one call.
func (r runResult) perCallMs(share float64, cores int) float64 {
	if r.Connected == 0 {
		return 0
	}
	return share * float64(cores) * 1000 / float64(r.Connected)
}

// dialTimeout bounds one call's setup (offer, ICE, DTLS).
const dialTimeout = 20 * time.Second

// runLoad starts a fresh realtime process, calls it n times at once, and
// measures it over a window in which every call streams.
func runLoad(ctx context.Context, rc runConfig) (runResult, error) {
	res := runResult{N: rc.n}
	proc, err := startRealtime(ctx, rc.rt)
	if err != nil {
		return res, err
	}
	defer func() { _ = proc.stop() }()
	time.Sleep(500 * time.Millisecond) // let it finish starting before the idle figure
	if res.RSSIdle, err = rss(proc.pid); err != nil {
		return res, err
	}

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	start := time.Now()
	stop := make(chan struct{}) // closed when the calls stop streaming
	results := make([]callResult, rc.n)
	var dialed atomic.Int64
	allDialed := make(chan struct{})
	markDialed := func() {
		if dialed.Add(1) == int64(rc.n) {
			close(allDialed)
		}
	}
	// Setting a call up (ICE, DTLS handshake on both sides) costs far more
	// CPU than a second of streaming: a bounded number at a time.
	dialSlots := make(chan struct{}, rc.dialParallel)
	// The connect phase is bounded: a call not up by then is a failure,
	// and the run goes on with the others.
	connectCtx, endConnect := context.WithDeadline(ctx, start.Add(rc.stagger+rc.connectFor))
	defer endConnect()
	var wg sync.WaitGroup
	for i := range rc.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			delay := time.Duration(i) * rc.stagger / time.Duration(rc.n)
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				results[i].err = ctx.Err()
				markDialed()
				return
			}
			results[i] = runCall(connectCtx, ctx, hc, proc.whipURL, rc.rt.creds[i].token, rc.packets, dialSlots, stop, markDialed)
		}()
	}
	stopped := false
	stopCalls := func() {
		if !stopped {
			stopped = true
			close(stop)
		}
	}
	defer func() { stopCalls(); wg.Wait() }()

	select {
	case <-allDialed:
	case <-ctx.Done():
		return res, ctx.Err()
	}
	res.Connect = time.Since(start)
	windowStart := time.Now().Add(rc.settle)
	time.Sleep(time.Until(windowStart))
	cpu0, err := cpuTime(proc.pid)
	if err != nil {
		return res, err
	}
	self0, err := cpuTime("self")
	if err != nil {
		return res, err
	}
	wait0, _ := runDelay(proc.pid)
	selfWait0, _ := runDelay("self")
	var profErr error
	var profWG sync.WaitGroup
	secs := int(rc.window / time.Second)
	if rc.profile {
		res.ProfilePath = filepath.Join(rc.dir, fmt.Sprintf("realtime-n%d.pprof", rc.n))
		profWG.Add(1)
		go func() {
			defer profWG.Done()
			profErr = fetchProfile(ctx, proc.pprofAddr, secs, res.ProfilePath)
		}()
	}
	windowEnd := windowStart.Add(time.Duration(secs) * time.Second)
	tick := time.NewTicker(250 * time.Millisecond)
	for time.Now().Before(windowEnd) && ctx.Err() == nil {
		if v, err := rss(proc.pid); err == nil && v > res.RSSSteady {
			res.RSSSteady = v
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	tick.Stop()
	cpu1, err := cpuTime(proc.pid)
	if err != nil {
		return res, err
	}
	self1, err := cpuTime("self")
	if err != nil {
		return res, err
	}
	wait1, _ := runDelay(proc.pid)
	selfWait1, _ := runDelay("self")
	res.Window = time.Since(windowStart)
	res.CPUShare = float64(cpu1-cpu0) / float64(res.Window) / float64(rc.cores)
	res.LoadGenShare = float64(self1-self0) / float64(res.Window) / float64(rc.cores)
	res.RunWait = float64(wait1-wait0) / float64(res.Window)
	res.LoadGenWait = float64(selfWait1-selfWait0) / float64(res.Window)
	res.LoadAvg1, _ = loadAverage()

	stopCalls()
	wg.Wait()
	profWG.Wait()
	if err := proc.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "voiceload:", err)
	}

	var lat []sessionLatency
	for _, r := range results {
		res.Sent += r.client.PacketsOut
		res.SentBehind += r.behind
		res.MaxBehind = max(res.MaxBehind, r.maxBehind)
		if r.err != nil {
			if len(res.DialErrors) < 5 {
				res.DialErrors = append(res.DialErrors, r.err.Error())
			}
			continue
		}
		res.Connected++
		if !r.hasView {
			continue
		}
		res.Viewed++
		v := r.view
		lat = append(lat, sessionLatency{decisions: v.Stats.Decisions, p50: v.Stats.DecisionP50Ms, p99: v.Stats.DecisionP99Ms})
		res.Received += v.Peer.PacketsIn
		res.Dropped += v.Peer.PacketsInDropped
		res.Lost += v.Receiver.Lost
		res.Late += v.Receiver.Late
		res.Concealed += v.Receiver.Concealed
		res.Frames += v.Receiver.Frames
	}
	res.Latency = summarize(lat, rc.budgetMs)
	if rc.profile {
		if profErr != nil {
			fmt.Fprintln(os.Stderr, "voiceload: CPU profile:", profErr)
		} else if cats, total, err := analyzeProfile(ctx, rc.rt.bin, res.ProfilePath); err != nil {
			fmt.Fprintln(os.Stderr, "voiceload: CPU profile:", err)
		} else {
			res.Profile, res.ProfileTotal = cats, total
		}
	}
	return res, nil
}

// runCall is one caller: it dials (holding one of dialSlots meanwhile),
// streams the packets in a loop in real time until stop is closed, reads
// what the server sends, then fetches its call's view while the call is
// still up, and hangs up.
func runCall(connectCtx, ctx context.Context, hc *http.Client, whipURL, token string, pkts [][]byte,
	dialSlots chan struct{}, stop <-chan struct{}, dialed func()) callResult {
	var res callResult
	select {
	case dialSlots <- struct{}{}:
	case <-connectCtx.Done():
		dialed()
		res.err = fmt.Errorf("not dialed: the connect phase ended (%w)", connectCtx.Err())
		return res
	}
	dctx, cancel := context.WithTimeout(connectCtx, dialTimeout)
	c, err := rtc.Dial(dctx, whipURL, token, rtc.ClientOptions{
		ListenAddress: "127.0.0.1:0",
		Network:       rtc.Network{IncludeLoopback: true, IPv4Only: true},
		HTTPClient:    hc,
	})
	cancel()
	<-dialSlots
	dialed()
	if err != nil {
		res.err = fmt.Errorf("dial: %w", err)
		return res
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_ = c.Close(cctx)
		cancel()
	}()

	// The assistant's audio and the events are read and discarded, as a
	// browser would play them, so that no queue backs up on either side.
	rctx, stopReading := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			if _, err := c.ReadPacket(rctx); err != nil {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-rctx.Done():
				return
			case <-c.Events():
			}
		}
	}()
	defer func() { stopReading(); wg.Wait() }()

	// Packet k goes out at first+k×20 ms, as a microphone's clock makes
	// them: a sender that is late catches up in a burst rather than
	// skipping (a time.Ticker would drop ticks and slow the stream down).
	first := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
streaming:
	for k := 0; ; k++ {
		due := first.Add(time.Duration(k) * codec.FrameDuration)
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				res.err = ctx.Err()
				return res
			case <-stop:
				break streaming
			case <-timer.C:
			}
		} else if lag := -d; lag > codec.FrameDuration {
			res.behind++
			res.maxBehind = max(res.maxBehind, lag)
		}
		select {
		case <-stop:
			break streaming
		default:
		}
		if err := c.WriteAudio(pkts[k%len(pkts)], codec.FrameDuration); err != nil {
			res.err = fmt.Errorf("after %d packets: %w", k, err)
			res.client = c.Stats()
			return res
		}
	}
	res.client = c.Stats()
	res.view, err = fetchView(ctx, hc, c.Location(), token)
	res.hasView = err == nil
	if err != nil {
		res.err = fmt.Errorf("view: %w", err)
	}
	return res
}

func fetchView(ctx context.Context, hc *http.Client, location, token string) (voice.CallView, error) {
	var v voice.CallView
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return v, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return v, err
	}
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("GET %s: %s", location, resp.Status)
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return v, fmt.Errorf("GET %s: %w", location, err)
	}
	return v, nil
}

// fetchProfile saves a CPU profile of secs seconds from the pprof listener.
func fetchProfile(ctx context.Context, addr string, secs int, path string) error {
	hc := &http.Client{Timeout: time.Duration(secs+30) * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://"+addr+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, io.LimitReader(resp.Body, 64<<20)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
