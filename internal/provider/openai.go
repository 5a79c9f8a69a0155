package provider

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// MaxResponseBytes caps how much of a response body is read; a chat
// completion with a JSON valuation is a few KiB.
const MaxResponseBytes = 4 << 20

// Prompts. The system prompts start with a stable marker so logs and the
// fake server (openaitest) can tell vision from judge requests.
const (
	VisionSystemPrompt = "inferflow:vision. You appraise the item in the image. " +
		`Reply with only a JSON object {"value": number, "confidence": number} where value is the ` +
		"item's estimated market value in currency units and confidence in [0, 1] is how sure you are."
	JudgeSystemPrompt = "inferflow:judge. You receive independent valuations of one item, each " +
		"{value, confidence}. Reply with only a JSON object " +
		`{"value": number, "confidence": number, "rationale": string} giving the consensus value, ` +
		"your confidence in [0, 1] and a one-sentence structured justification (no step-by-step reasoning)."
	visionUserPrompt = "Estimate the value of this item."
)

// OpenAI talks to an OpenAI-compatible chat-completions endpoint. Each call
// is exactly one HTTP attempt; retries are Temporal's job. It is safe for
// concurrent use.
type OpenAI struct {
	endpoint        string
	apiKey          string
	visionModel     string
	judgeModel      string
	completionModel string
	client          *http.Client
}

// NewOpenAI builds the HTTP provider from a validated-or-not cfg.
func NewOpenAI(cfg Config) (*OpenAI, error) {
	cfg.Kind = KindOpenAI
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32 // three vision slots per item, many items in flight
	return &OpenAI{
		endpoint:        strings.TrimRight(cfg.BaseURL, "/") + "/chat/completions",
		apiKey:          cfg.APIKey,
		visionModel:     cfg.VisionModel,
		judgeModel:      cfg.judgeModel(),
		completionModel: cfg.completionModel(),
		// otelhttp: with tracing on, each request is a span under the
		// activity's; with it off, the span is a no-op.
		client: &http.Client{Timeout: cfg.httpTimeout(), Transport: otelhttp.NewTransport(tr)},
	}, nil
}

// Wire types of the chat-completions protocol (only what is used).
type (
	chatRequest struct {
		Model          string          `json:"model"`
		Messages       []chatMessage   `json:"messages"`
		ResponseFormat *responseFormat `json:"response_format,omitempty"`
		Temperature    *float64        `json:"temperature,omitempty"`
		MaxTokens      int             `json:"max_tokens,omitempty"`
	}
	chatMessage struct {
		Role string `json:"role"`
		// Content is a string or a []contentPart.
		Content any `json:"content"`
	}
	contentPart struct {
		Type     string    `json:"type"`
		Text     string    `json:"text,omitempty"`
		ImageURL *imageURL `json:"image_url,omitempty"`
	}
	imageURL struct {
		URL string `json:"url"`
	}
	responseFormat struct {
		Type string `json:"type"`
	}
	chatResponse struct {
		Model   string `json:"model"`
		Choices []struct {
			Message struct {
				Content *string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
		Usage *struct {
			PromptTokens     *int `json:"prompt_tokens"`
			CompletionTokens *int `json:"completion_tokens"`
			TotalTokens      *int `json:"total_tokens"`
		} `json:"usage"`
	}
)

// Vision implements Vision: the image travels as a base64 data: URL.
func (c *OpenAI) Vision(ctx context.Context, req VisionRequest) (VisionOutput, error) {
	mt, err := req.Image.resolvedMediaType()
	if err != nil {
		return VisionOutput{}, err
	}
	model := orDefault(req.ModelID, c.visionModel)
	dataURL := "data:" + mt + ";base64," + base64.StdEncoding.EncodeToString(req.Image.Data)
	zero := 0.0
	body := chatRequest{
		Model: model,
		Messages: []chatMessage{
			{Role: "system", Content: VisionSystemPrompt},
			{Role: "user", Content: []contentPart{
				{Type: "text", Text: visionUserPrompt},
				{Type: "image_url", ImageURL: &imageURL{URL: dataURL}},
			}},
		},
		ResponseFormat: &responseFormat{Type: "json_object"},
		Temperature:    &zero,
	}
	resp, err := c.do(ctx, "vision", req.RequestID, body)
	if err != nil {
		return VisionOutput{}, err
	}
	var out struct {
		Value      *float64 `json:"value"`
		Confidence *float64 `json:"confidence"`
	}
	if err := decodeContent(resp, &out); err != nil {
		return VisionOutput{}, err
	}
	if out.Value == nil {
		return VisionOutput{}, invalidOutput("vision output has no value")
	}
	if out.Confidence == nil {
		return VisionOutput{}, invalidOutput("vision output has no confidence")
	}
	v := VisionOutput{Value: *out.Value, Confidence: *out.Confidence, ModelID: orDefault(resp.Model, model)}
	if err := ValidateVision(v); err != nil {
		return VisionOutput{}, err
	}
	return v, nil
}

// Judge implements Judge with a judge model.
func (c *OpenAI) Judge(ctx context.Context, req JudgeRequest) (JudgeOutput, error) {
	if err := ValidateJudgeInput(req.Valuations); err != nil {
		return JudgeOutput{}, err
	}
	input, err := json.Marshal(struct {
		Valuations []Valuation `json:"valuations"`
	}{req.Valuations})
	if err != nil { // unreachable for validated finite floats
		return JudgeOutput{}, &InvalidInputError{Field: "valuations", Reason: err.Error()}
	}
	zero := 0.0
	body := chatRequest{
		Model: c.judgeModel,
		Messages: []chatMessage{
			{Role: "system", Content: JudgeSystemPrompt},
			{Role: "user", Content: string(input)},
		},
		ResponseFormat: &responseFormat{Type: "json_object"},
		Temperature:    &zero,
	}
	resp, err := c.do(ctx, "judge", req.RequestID, body)
	if err != nil {
		return JudgeOutput{}, err
	}
	var out struct {
		Value      *float64 `json:"value"`
		Confidence *float64 `json:"confidence"`
		Rationale  *string  `json:"rationale"`
	}
	if err := decodeContent(resp, &out); err != nil {
		return JudgeOutput{}, err
	}
	switch {
	case out.Value == nil:
		return JudgeOutput{}, invalidOutput("judge output has no value")
	case out.Confidence == nil:
		return JudgeOutput{}, invalidOutput("judge output has no confidence")
	case out.Rationale == nil:
		return JudgeOutput{}, invalidOutput("judge output has no rationale")
	}
	j := JudgeOutput{Value: *out.Value, Confidence: *out.Confidence, Rationale: *out.Rationale,
		ModelID: orDefault(resp.Model, c.judgeModel)}
	if err := ValidateJudge(j); err != nil {
		return JudgeOutput{}, err
	}
	return j, nil
}

// Complete implements Completer; usage comes from the response's usage
// object, which billing needs, so a response without it is INVALID_OUTPUT.
func (c *OpenAI) Complete(ctx context.Context, req CompletionRequest) (CompletionOutput, error) {
	if err := validateCompletionRequest(req); err != nil {
		return CompletionOutput{}, err
	}
	if req.Prompt == "" {
		return CompletionOutput{}, &InvalidInputError{Field: "prompt", Reason: "must not be empty for an HTTP model"}
	}
	model := orDefault(req.ModelID, c.completionModel)
	body := chatRequest{
		Model:     model,
		Messages:  []chatMessage{{Role: "user", Content: req.Prompt}},
		MaxTokens: req.MaxTokens,
	}
	resp, err := c.do(ctx, "complete", req.RequestID, body)
	if err != nil {
		return CompletionOutput{}, err
	}
	text, err := firstContent(resp)
	if err != nil {
		return CompletionOutput{}, err
	}
	u := resp.Usage
	if u == nil || u.PromptTokens == nil || u.CompletionTokens == nil || u.TotalTokens == nil {
		return CompletionOutput{}, invalidOutput("completion response has no usage (prompt_tokens, completion_tokens, total_tokens)")
	}
	out := CompletionOutput{Text: text, ModelID: orDefault(resp.Model, model),
		Usage: Usage{PromptTokens: *u.PromptTokens, CompletionTokens: *u.CompletionTokens, TotalTokens: *u.TotalTokens}}
	if err := ValidateCompletion(out); err != nil {
		return CompletionOutput{}, err
	}
	return out, nil
}

// do sends one request and returns the decoded envelope or a classified error.
func (c *OpenAI) do(ctx context.Context, op, requestID string, body chatRequest) (*chatResponse, error) {
	if err := ctxErr(op, ctx); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, &InvalidInputError{Field: "request", Reason: err.Error()}
	}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(payload))
	if err != nil { // only a malformed endpoint, which Validate rules out
		return nil, &Error{Code: CodeClientError, Message: op + ": cannot build request", Err: err}
	}
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("Accept", "application/json")
	if c.apiKey != "" {
		httpReq.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	if requestID != "" {
		httpReq.Header.Set("X-Request-ID", requestID)
	}

	resp, err := c.client.Do(httpReq)
	if err != nil {
		return nil, c.transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, c.transportError(ctx, op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.statusError(op, resp, raw)
	}
	if len(raw) > MaxResponseBytes {
		return nil, invalidOutput("%s: response body exceeds %d bytes", op, MaxResponseBytes)
	}
	var cr chatResponse
	if err := json.Unmarshal(raw, &cr); err != nil {
		return nil, &Error{Code: CodeInvalidOutput, StatusCode: resp.StatusCode,
			Message: op + ": response is not a chat completion", Err: err}
	}
	return &cr, nil
}

// transportError classifies a failure with no HTTP status. A cancelled
// context wins over whatever the transport reported, so callers see
// context.Canceled; a deadline is TIMEOUT.
func (c *OpenAI) transportError(ctx context.Context, op string, err error) error {
	if cerr := ctxErr(op, ctx); cerr != nil {
		return cerr
	}
	// Go's transport errors hold the URL, never headers, so the key cannot
	// leak; redact anyway in case a proxy echoes it into an error.
	return &Error{Code: CodeOf(err), Message: op + ": request failed", Err: redactedError{err, c.apiKey}}
}

func firstContent(resp *chatResponse) (string, error) {
	if len(resp.Choices) == 0 {
		return "", invalidOutput("response has no choices")
	}
	content := resp.Choices[0].Message.Content
	if content == nil {
		return "", invalidOutput("choices[0].message.content is missing")
	}
	return *content, nil
}

// decodeContent parses choices[0].message.content as a JSON object into v.
// Some local servers wrap JSON in a Markdown code fence despite
// response_format; that wrapper is tolerated, nothing else is.
func decodeContent(resp *chatResponse, v any) error {
	content, err := firstContent(resp)
	if err != nil {
		return err
	}
	s := strings.TrimSpace(content)
	if strings.HasPrefix(s, "```") {
		s = strings.TrimPrefix(s, "```json")
		s = strings.TrimPrefix(s, "```")
		s = strings.TrimSuffix(strings.TrimSpace(s), "```")
	}
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(v); err != nil {
		return &Error{Code: CodeInvalidOutput, Message: "message content is not the expected JSON object",
			Err: errors.New(truncateRunes(err.Error(), 200))}
	}
	if dec.More() {
		return invalidOutput("message content has trailing data after the JSON object")
	}
	return nil
}

// orDefault returns a unless it is empty, else b.
func orDefault(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
