// Package voice holds one realtime voice call: it wires the caller's
// decoded microphone audio through the speech gate to a realtime model,
// plays the model's voice back (and into the gate as its far-end
// reference), bills each response through the session's workflow, and
// tells the caller what happens on the events channel.
//
// A Session works on PCM only; the media path around it (RTP, Opus, Pion)
// is behind three small interfaces so the session's logic can be tested
// with plain audio:
//
//	Mic (FrameSource) ──► gate.ProcessFrame ──uplink──► Model.SendAudio
//	                          ▲    │ events                  │ server events
//	                far end   │    ▼                         ▼
//	Speaker (AudioSink) ◄── playout ◄── audio deltas ── model events loop
//	                                    control loop: turns, responses,
//	                                    billing, interruptions ──► Recorder (Temporal)
//	                                                             └► Events (data channel)
//
// Goroutines: Run starts four (microphone, playout, model events, control),
// owns them and returns only after all have ended. The audio path (the
// microphone and playout loops) never waits on Temporal, logging or the
// events channel: those go through bounded, non-blocking queues whose
// drops are counted (Stats).
package voice
