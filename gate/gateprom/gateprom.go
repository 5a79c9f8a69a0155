// Package gateprom exports the speech gates of a process to Prometheus.
//
// A Collector sums the counters and state of every gate registered with it,
// with no per-gate or per-session label, so the number of series does not
// grow with the number of calls:
//
//	c := gateprom.NewCollector("inferflow")
//	reg.MustRegister(c)
//	g, _ := gate.New(cfg, gate.Deps{Uplink: up, OnEvent: c.ObserveEvent})
//	c.Add(g)
//	defer func() { g.Close(); c.Remove(g) }()
//
// Remove folds a gate's final counters into running totals, so counters
// never go down when a call ends. Remove a gate after closing it (counts it
// makes after Remove are not exported), and do not call ResetMetrics on a
// registered gate.
//
// Metric names are <namespace>_speech_gate_<name> (speech_gate_<name> with
// an empty namespace):
//
// Counters, summed over live and removed gates (see gate.Metrics):
//
//	frames_total                            microphone frames offered
//	frames_speech_total                     user speech frames
//	frames_silence_total                    frames without speech
//	frames_dropped_silence_total            silence outside the hangover
//	frames_dropped_invalid_total            frames that failed validation
//	frames_dropped_gate_closed_total        frames offered after Close
//	frames_dropped_queue_backpressure_total uplink queue overflow (evictions included)
//	frames_admitted_total                   frames admitted to an uplink slot at once
//	frames_queued_total                     frames that waited in the uplink queue
//	frames_echo_total                       echo of the assistant, dropped
//	frames_dropped_barrier_total            dropped at a closed barrier (DropDuringAssistantPlayback)
//	far_end_frames_total                    far-end reference frames
//	far_end_frames_invalid_total            far-end frames that failed validation
//	held_frames_accepted_total              frames held behind the barrier
//	held_frames_dropped_total               held buffer overflow (evictions included)
//	held_frames_discarded_total             held frames lost to Close or lane failure
//	held_flushes_total                      held batches delivered
//	held_flush_frames_total                 frames in delivered held batches
//	held_flush_failures_total               held batches whose delivery failed
//	stale_flushes_total                     batches skipped by the generation guard
//	uplinks_succeeded_total                 single-frame uplink calls that succeeded
//	uplinks_errored_total                   uplink calls that failed
//	uplinks_timed_out_total                 uplink calls that timed out
//	uplink_panics_total                     uplink calls that panicked
//	uplink_latency_seconds_total            latency of successful single-frame calls
//	batch_uplink_latency_seconds_total      latency of held-batch calls
//	speech_starts_total                     user turns started
//	speech_ends_total                       user turns ended
//	barrier_blocked_frames_total            speech/hangover frames met by a closed barrier
//	barrier_forced_opens_total              barrier closures ended by MaxBarrierClosed
//	interruptions_total                     barge-ins admitted (BargeInAdmit)
//	barge_in_frames_admitted_total          frames admitted through a closed barrier
//	barge_in_preroll_frames_total           echo-flagged frames sent ahead of a barge-in
//	lane_resolution_failures_total          lane resolver errors and panics
//	observer_panics_total                   event listener panics
//	playback_probe_failures_total           playback probe panics
//	events_lost_total                       events beyond the per-call budget
//
// Gauges, over live (registered) gates:
//
//	live_gates                 registered gates
//	held_frames                frames held behind the barrier
//	queued_frames              frames waiting in uplink queues
//	inflight_uplinks           uplink slots in use (calls running or frames admitted to them)
//	barrier_closed_gates       gates whose playback barrier is closed
//	gates{turn_state="..."}    gates per turn state (idle, speaking, hangover, assistant_blocked)
//
// Histogram, fed by ObserveEvent (EventTurnEnded) or ObserveTurn:
//
//	turn_duration_seconds      length of user turns, first to last speech frame
package gateprom

import (
	"sync"
	"time"

	"github.com/inferflow/inferflow/gate"
	"github.com/prometheus/client_golang/prometheus"
)

const subsystem = "speech_gate"

// TurnBuckets are the turn-duration histogram's buckets, in seconds: from a
// short "yes" to a long monologue.
var TurnBuckets = []float64{0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60}

// counter is one gate.Metrics field exported as a counter.
type counter struct {
	name, help string
	get        func(m *gate.Metrics) float64
}

func u(f func(m *gate.Metrics) uint64) func(m *gate.Metrics) float64 {
	return func(m *gate.Metrics) float64 { return float64(f(m)) }
}

func secs(f func(m *gate.Metrics) time.Duration) func(m *gate.Metrics) float64 {
	return func(m *gate.Metrics) float64 { return f(m).Seconds() }
}

// counters lists every gate.Metrics field; the package test checks that
// none is missing.
var counters = []counter{
	{"frames_total", "Microphone frames offered to the gates.", u(func(m *gate.Metrics) uint64 { return m.FramesTotal })},
	{"frames_speech_total", "Frames holding user speech.", u(func(m *gate.Metrics) uint64 { return m.FramesSpeechDetected })},
	{"frames_silence_total", "Frames without speech.", u(func(m *gate.Metrics) uint64 { return m.FramesSilenceDetected })},
	{"frames_dropped_silence_total", "Silence frames outside the hangover, dropped.", u(func(m *gate.Metrics) uint64 { return m.FramesDroppedSilence })},
	{"frames_dropped_invalid_total", "Frames that failed validation.", u(func(m *gate.Metrics) uint64 { return m.FramesDroppedInvalid })},
	{"frames_dropped_gate_closed_total", "Frames offered after Close.", u(func(m *gate.Metrics) uint64 { return m.FramesDroppedGateClosed })},
	{"frames_dropped_queue_backpressure_total", "Frames lost to a full uplink queue, evictions included.", u(func(m *gate.Metrics) uint64 { return m.FramesDroppedQueueBackpressure })},
	{"held_frames_accepted_total", "Frames held behind the playback barrier.", u(func(m *gate.Metrics) uint64 { return m.HeldFramesAccepted })},
	{"held_frames_dropped_total", "Frames lost to a full held buffer, evictions included.", u(func(m *gate.Metrics) uint64 { return m.HeldFramesDropped })},
	{"held_flushes_total", "Held batches delivered.", u(func(m *gate.Metrics) uint64 { return m.HeldFlushes })},
	{"held_flush_frames_total", "Frames in delivered held batches.", u(func(m *gate.Metrics) uint64 { return m.HeldFlushFrames })},
	{"frames_admitted_total", "Frames admitted to an uplink slot at once.", u(func(m *gate.Metrics) uint64 { return m.FramesAdmittedImmediate })},
	{"frames_queued_total", "Frames that waited in the uplink queue.", u(func(m *gate.Metrics) uint64 { return m.FramesQueued })},
	{"uplinks_succeeded_total", "Single-frame uplink calls that succeeded.", u(func(m *gate.Metrics) uint64 { return m.UplinksSucceeded })},
	{"uplinks_errored_total", "Uplink calls that failed.", u(func(m *gate.Metrics) uint64 { return m.UplinksErrored })},
	{"uplinks_timed_out_total", "Uplink calls that timed out.", u(func(m *gate.Metrics) uint64 { return m.UplinksTimedOut })},
	{"uplink_latency_seconds_total", "Total latency of successful single-frame uplink calls.", secs(func(m *gate.Metrics) time.Duration { return m.TotalUplinkLatency })},
	{"speech_starts_total", "User turns started.", u(func(m *gate.Metrics) uint64 { return m.SpeechStartEvents })},
	{"speech_ends_total", "User turns ended.", u(func(m *gate.Metrics) uint64 { return m.SpeechEndEvents })},
	{"barrier_blocked_frames_total", "Speech and hangover frames met by a closed playback barrier.", u(func(m *gate.Metrics) uint64 { return m.BarrierBlockedFrames })},
	{"lane_resolution_failures_total", "Lane resolver errors and panics.", u(func(m *gate.Metrics) uint64 { return m.LaneResolutionFailures })},
	{"frames_echo_total", "Echo of the assistant's voice, dropped.", u(func(m *gate.Metrics) uint64 { return m.FramesEcho })},
	{"far_end_frames_total", "Far-end reference frames fed to the detectors.", u(func(m *gate.Metrics) uint64 { return m.FarEndFrames })},
	{"far_end_frames_invalid_total", "Far-end frames that failed validation.", u(func(m *gate.Metrics) uint64 { return m.FarEndFramesInvalid })},
	{"frames_dropped_barrier_total", "Frames dropped at a closed barrier (DropDuringAssistantPlayback).", u(func(m *gate.Metrics) uint64 { return m.FramesDroppedBarrier })},
	{"interruptions_total", "Barge-ins admitted over the assistant.", u(func(m *gate.Metrics) uint64 { return m.Interruptions })},
	{"barge_in_frames_admitted_total", "Frames admitted through a closed barrier.", u(func(m *gate.Metrics) uint64 { return m.BargeInFramesAdmitted })},
	{"barge_in_preroll_frames_total", "Echo-flagged frames sent ahead of a barge-in.", u(func(m *gate.Metrics) uint64 { return m.BargeInPreRollFrames })},
	{"held_flush_failures_total", "Held batches whose delivery failed or timed out.", u(func(m *gate.Metrics) uint64 { return m.HeldFlushFailures })},
	{"held_frames_discarded_total", "Held frames lost to Close or lane failure.", u(func(m *gate.Metrics) uint64 { return m.HeldFramesDiscarded })},
	{"stale_flushes_total", "Held batches skipped by the flush generation guard.", u(func(m *gate.Metrics) uint64 { return m.StaleFlushes })},
	{"uplink_panics_total", "Uplink calls that panicked.", u(func(m *gate.Metrics) uint64 { return m.UplinkPanics })},
	{"observer_panics_total", "Event listener calls that panicked.", u(func(m *gate.Metrics) uint64 { return m.ObserverPanics })},
	{"playback_probe_failures_total", "Playback probe panics.", u(func(m *gate.Metrics) uint64 { return m.PlaybackProbeFailures })},
	{"events_lost_total", "Events beyond the per-call event budget.", u(func(m *gate.Metrics) uint64 { return m.EventsLost })},
	{"barrier_forced_opens_total", "Barrier closures ended by MaxBarrierClosed.", u(func(m *gate.Metrics) uint64 { return m.BarrierForcedOpens })},
	{"batch_uplink_latency_seconds_total", "Total latency of held-batch uplink calls.", secs(func(m *gate.Metrics) time.Duration { return m.TotalBatchUplinkLatency })},
}

// turnStates are the label values of the gates gauge.
var turnStates = []gate.TurnState{gate.StateIdle, gate.StateSpeaking, gate.StateHangover, gate.StateAssistantBlocked}

// Collector is a prometheus.Collector over a set of gates. Its methods are
// safe for concurrent use.
type Collector struct {
	counterDescs []*prometheus.Desc
	liveDesc     *prometheus.Desc
	heldDesc     *prometheus.Desc
	queuedDesc   *prometheus.Desc
	inflightDesc *prometheus.Desc
	barrierDesc  *prometheus.Desc
	statesDesc   *prometheus.Desc
	turns        prometheus.Histogram

	// mu guards gates and totals and is held through a scrape, so a gate is
	// counted either live or in totals, never both or neither.
	mu     sync.Mutex
	gates  map[*gate.Gate]struct{}
	totals []float64 // removed gates' final counters, by counters index
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector whose metric names start with
// namespace_speech_gate_ (speech_gate_ when namespace is empty).
func NewCollector(namespace string) *Collector {
	c := &Collector{
		gates:  map[*gate.Gate]struct{}{},
		totals: make([]float64, len(counters)),
	}
	for _, k := range counters {
		c.counterDescs = append(c.counterDescs, prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, k.name), k.help, nil, nil))
	}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, labels, nil)
	}
	c.liveDesc = desc("live_gates", "Gates registered with the collector.")
	c.heldDesc = desc("held_frames", "Frames held behind the playback barrier.")
	c.queuedDesc = desc("queued_frames", "Frames waiting in uplink queues.")
	c.inflightDesc = desc("inflight_uplinks", "Uplink slots in use: calls running or frames admitted to them.")
	c.barrierDesc = desc("barrier_closed_gates", "Gates whose assistant playback barrier is closed.")
	c.statesDesc = desc("gates", "Gates per turn state.", "turn_state")
	c.turns = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: subsystem, Name: "turn_duration_seconds",
		Help:    "Length of user turns, from the start of the first speech frame to the end of the last.",
		Buckets: TurnBuckets,
	})
	return c
}

// Add registers a gate; adding it again or adding nil does nothing.
func (c *Collector) Add(g *gate.Gate) {
	if g == nil {
		return
	}
	c.mu.Lock()
	c.gates[g] = struct{}{}
	c.mu.Unlock()
}

// Remove unregisters a gate, folding its counters into the running totals
// so they stay monotonic. Call it after the gate's Close. Removing a gate
// that is not registered does nothing.
func (c *Collector) Remove(g *gate.Gate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.gates[g]; !ok {
		return
	}
	delete(c.gates, g)
	m := g.Metrics()
	for i, k := range counters {
		c.totals[i] += k.get(&m)
	}
}

// ObserveTurn records the length of one user turn.
func (c *Collector) ObserveTurn(d time.Duration) {
	if d >= 0 {
		c.turns.Observe(d.Seconds())
	}
}

// ObserveEvent feeds a gate event to the turn histogram (EventTurnEnded;
// other types are ignored), so it can be the gate's Deps.OnEvent or be
// called from it.
func (c *Collector) ObserveEvent(e gate.Event) {
	if e.Type == gate.EventTurnEnded {
		c.ObserveTurn(e.Duration)
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.counterDescs {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{c.liveDesc, c.heldDesc, c.queuedDesc, c.inflightDesc, c.barrierDesc, c.statesDesc} {
		ch <- d
	}
	c.turns.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	sums := append([]float64(nil), c.totals...)
	var held, queued, inflight, closed int
	states := make(map[gate.TurnState]int, len(turnStates))
	for g := range c.gates {
		s := g.Snapshot()
		for i, k := range counters {
			sums[i] += k.get(&s.Metrics)
		}
		held += s.Held.Frames
		queued += s.QueueDepth
		inflight += s.Inflight
		if s.Barrier.Closed {
			closed++
		}
		states[s.TurnState]++
	}
	live := len(c.gates)
	c.mu.Unlock()

	for i, d := range c.counterDescs {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, sums[i])
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	gauge(c.liveDesc, live)
	gauge(c.heldDesc, held)
	gauge(c.queuedDesc, queued)
	gauge(c.inflightDesc, inflight)
	gauge(c.barrierDesc, closed)
	for _, st := range turnStates {
		gauge(c.statesDesc, states[st], string(st))
	}
	c.turns.Collect(ch)
}
