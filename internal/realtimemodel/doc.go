// Package realtimemodel is the voice worker's side of a realtime speech
// model: the OpenAI-style realtime event protocol (client and server events
// as Go structs with the protocol's JSON names), the Upstream interface a
// voice session drives, and Simulated, an in-process, offline,
// deterministic model behind it.
//
// # Protocol
//
// Client events (session.update, input_audio_buffer.append/commit/clear,
// response.create/cancel, output_audio_buffer.clear) are encoded with
// EncodeClientEvent. Server events are parsed from untrusted JSON with
// ParseServerEvent, which bounds sizes (MaxServerEventBytes,
// MaxAudioDeltaBytes, MaxIDBytes, MaxTokens), checks the fields of known
// types, never panics and returns *ParseError. A ServerEvent carries both
// the parsed Value and the Raw JSON, because the speech gate reads the raw
// form (gate.HandleServerEventJSON) while the session reads the value.
// Audio is base64 PCM16 mono at ServiceRate (24 kHz) both ways.
//
// # Upstream
//
// A session sends admitted 16 kHz audio (SendAudio resamples to 24 kHz),
// ends the user turn (CommitTurn), asks for a reply (CreateResponse, kept
// apart so billing can place a hold in between), cancels on barge-in
// (CancelResponse) and reads Events until it is closed. Events is bounded:
// a consumer that leaves it full past the slow-consumer timeout ends the
// upstream with ErrSlowConsumer; nothing is dropped silently.
//
// # Simulated
//
// NewSimulated plays the service in one goroutine: session.created and
// session.updated at start; committed audio is answered by response.created,
// rate_limits.updated, a synthesized voiced reply (vowel-like harmonic tones
// under a syllable envelope, ReplySamples long, with transcript deltas) in
// response.output_audio.delta chunks paced in real time (or as fast as read,
// SimConfig.Fast), response.output_audio.done and response.done with usage
// at InputAudioTokensPerSecond and OutputAudioTokensPerSecond (SimUsage).
// A cancel stops the stream at once: response.done "cancelled" with usage
// for the audio sent, then output_audio_buffer.cleared. Protocol mistakes
// come back as error events with the real service's codes where it has
// them. SimConfig.FailAfterDeltas makes it fail for tests.
package realtimemodel
