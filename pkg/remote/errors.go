package remote

import (
	"errors"
	"fmt"
)

// ErrBudgetExhausted is returned (wrapped) when a query would take the
// client beyond Options.MaxQueries. Nothing beyond the budget is sent.
var ErrBudgetExhausted = errors.New("query budget exhausted")

// ErrBadResponse is wrapped by every error about a response that breaks
// the protocol or the classifier contract: malformed JSON, a wrong shape,
// datatype or length, NaN or infinite scores, a body over the size limit.
var ErrBadResponse = errors.New("bad response")

// ErrTimeout is wrapped when a request got no complete answer within
// Options.Timeout (the caller's own context was still live).
var ErrTimeout = errors.New("timed out")

// StatusError is a non-2xx answer from the server.
type StatusError struct {
	// Endpoint is the method and URL, e.g. "POST http://host/v2/models/m/infer".
	Endpoint string
	// Code is the HTTP status code.
	Code int
	// Message is the server's {"error": ...} text, or the start of its body.
	Message string
}

// Error says which endpoint answered what.
func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s: HTTP %d", e.Endpoint, e.Code)
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.Endpoint, e.Code, e.Message)
}

// Temporary reports whether the status is worth retrying: 429 and the
// 5xx codes other than 501 Not Implemented and 505.
func (e *StatusError) Temporary() bool {
	return e.Code == 429 || (e.Code >= 500 && e.Code != 501 && e.Code != 505)
}
