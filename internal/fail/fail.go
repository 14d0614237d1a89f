// Package fail is the one error type services return for failures a user
// caused or can act on. The web layer turns it into the contract's error body
// (and chat into an error frame); anything else is an internal error.
package fail

import (
	"errors"
	"fmt"
)

// Kind says what sort of failure it is; the web layer maps it to a status.
type Kind int

// The kinds of failure.
const (
	Invalid      Kind = iota + 1 // 400: the input is wrong
	Unauthorized                 // 401: who you are is unknown or wrong
	Forbidden                    // 403: you may not do this
	NotFound                     // 404
	Conflict                     // 409: it clashes with what exists
	TooMany                      // 429: slow down
	Unavailable                  // 503: switched off or not ready
	BadGateway                   // 502: a linked instance failed or could not be reached
)

// Error is a failure with a stable snake_case code and a human message.
type Error struct {
	Kind    Kind
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// New makes an *Error.
func New(kind Kind, code, format string, args ...any) error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// As returns the *Error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
