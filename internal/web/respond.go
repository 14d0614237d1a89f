package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/ratelimit"
)

// maxJSONBody bounds every JSON request body.
const maxJSONBody = 64 << 10

// errorBody is the contract's error shape.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// retryLater is the Retry-After (seconds) of a 429 whose limit did not
// say: a connection count, or a limit kept outside this package.
const retryLater = "5"

// allow spends one of key's events on k. When none is left it reports
// false, having set Retry-After to k's interval: the caller answers 429.
func allow(w http.ResponseWriter, k *ratelimit.Keyed, key string) bool {
	if k.Allow(key) {
		return true
	}
	w.Header().Set("Retry-After", k.RetryAfter())
	return false
}

// writeError is the one place that builds HTTP error bodies. A 429 always
// says when to try again (RFC 6585): the limit's own interval when allow
// set it, else retryLater.
func writeError(w http.ResponseWriter, status int, code, message string) {
	if status == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", retryLater)
	}
	var b errorBody
	b.Error.Code, b.Error.Message = code, message
	writeJSON(w, status, b)
}

var kindStatus = map[fail.Kind]int{
	fail.Invalid:      http.StatusBadRequest,
	fail.Unauthorized: http.StatusUnauthorized,
	fail.Forbidden:    http.StatusForbidden,
	fail.NotFound:     http.StatusNotFound,
	fail.Conflict:     http.StatusConflict,
	fail.TooMany:      http.StatusTooManyRequests,
	fail.Unavailable:  http.StatusServiceUnavailable,
	fail.BadGateway:   http.StatusBadGateway,
}

// statusOf maps a service error to a status, code and message. Errors that
// are not *fail.Error are internal: logged, never shown.
func (s *Server) statusOf(r *http.Request, err error) (int, string, string) {
	if fe, ok := fail.As(err); ok {
		if st, ok := kindStatus[fe.Kind]; ok {
			return st, fe.Code, fe.Message
		}
	}
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	return http.StatusInternalServerError, "internal", "something went wrong on the server; try again later"
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	st, code, msg := s.statusOf(r, err)
	writeError(w, st, code, msg)
}

// decodeJSON reads one JSON object into v: size-limited, unknown fields and
// trailing data refused. It writes the error response itself and reports
// whether decoding worked.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if err = dec.Decode(&struct{}{}); err == io.EOF {
			err = nil
		} else if _, tooBig := errors.AsType[*http.MaxBytesError](err); !tooBig {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the request body is larger than %d bytes", maxJSONBody))
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "invalid_json", "the request body is empty; send a JSON object")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		writeError(w, http.StatusBadRequest, "invalid_json", "the request body is not valid JSON")
	case errors.As(err, &typ):
		writeError(w, http.StatusBadRequest, "invalid_json", fmt.Sprintf("the field %q has the wrong type", typ.Field))
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		writeError(w, http.StatusBadRequest, "invalid_json", "the request has an "+strings.TrimPrefix(err.Error(), "json: "))
	default:
		writeError(w, http.StatusBadRequest, "invalid_json", "the request body is not the expected JSON object")
	}
	return false
}

func parseInt(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }
