package voice

import (
	"encoding/json"
	"time"
)

// MessageType names a message on the caller's events channel. The set is
// part of the contract (CONTRACT.md#realtime-voice-sessions).
type MessageType string

const (
	MsgSessionStarted   MessageType = "session.started"
	MsgGateState        MessageType = "gate.state"
	MsgGateBarrier      MessageType = "gate.barrier"
	MsgGateFigures      MessageType = "gate.figures"
	MsgTurnStarted      MessageType = "turn.started"
	MsgTurnEnded        MessageType = "turn.ended"
	MsgResponseStarted  MessageType = "response.started"
	MsgResponseRefused  MessageType = "response.refused"
	MsgResponseDone     MessageType = "response.done"
	MsgResponseBilled   MessageType = "response.billed"
	MsgTranscript       MessageType = "response.transcript"
	MsgInterruption     MessageType = "interruption"
	MsgBillingDegraded  MessageType = "billing.unavailable"
	MsgModelError       MessageType = "model.error"
	MsgSessionEnded     MessageType = "session.ended"
	MsgSessionWorkflow  MessageType = "session.workflow"
	maxMessageTranscipt             = 2048
)

// Message is one JSON object on the events channel. Fields that do not
// apply to a Type are omitted.
type Message struct {
	Type MessageType `json:"type"`
	// AtMs is milliseconds since the session started.
	AtMs int64 `json:"atMs"`

	SessionID  string `json:"sessionId,omitempty"`
	WorkflowID string `json:"workflowId,omitempty"`

	State    string `json:"state,omitempty"`
	Previous string `json:"previous,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Closed   *bool  `json:"closed,omitempty"`

	Turn           int   `json:"turn,omitempty"`
	DurationMs     int64 `json:"durationMs,omitempty"`
	FramesAdmitted int   `json:"framesAdmitted,omitempty"`

	ResponseSeq int    `json:"responseSeq,omitempty"`
	ResponseID  string `json:"responseId,omitempty"`
	Status      string `json:"status,omitempty"`
	Usage       *Usage `json:"usage,omitempty"`
	HeldCredits int64  `json:"heldMicroCredits,omitempty"`
	// Charged and Balance (micro-credits) come with response.billed.
	Charged *int64 `json:"chargedMicroCredits,omitempty"`
	Balance *int64 `json:"balanceMicroCredits,omitempty"`
	Text    string `json:"text,omitempty"`

	Figures *Figures `json:"figures,omitempty"`
}

func (s *Session) send(m Message) {
	m.AtMs = s.sinceStart(time.Now()).Milliseconds()
	if len(m.Text) > maxMessageTranscipt {
		m.Text = m.Text[:maxMessageTranscipt]
	}
	b, err := json.Marshal(m)
	if err != nil {
		return // every field is a plain value; cannot happen
	}
	s.deps.Events.SendEvent(b)
}
