package sendmail

import (
	"errors"
	"fmt"
)

// Exit codes from sysexits.h, the contract every caller of sendmail relies on.
const (
	ExOK          = 0
	ExUsage       = 64 // command line usage error
	ExDataErr     = 65 // bad message
	ExNoUser      = 67 // unknown local recipient
	ExUnavailable = 69 // permanent rejection
	ExSoftware    = 70 // internal error
	ExCantCreat   = 73 // cannot create the spool file
	ExIOErr       = 74 // spool write failed
	ExTempFail    = 75 // temporary failure (only when the caller waits: -odi)
	ExNoPerm      = 77 // permission denied
	ExConfig      = 78 // configuration error
)

// ExitError is an error that carries the exit status it must end with.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

func exitf(code int, format string, args ...any) error {
	return &ExitError{Code: code, Err: fmt.Errorf(format, args...)}
}

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return err
	}
	return &ExitError{Code: code, Err: err}
}

// ExitCode maps err to its exit status: ExitError's own code, else EX_SOFTWARE.
func ExitCode(err error) int {
	if err == nil {
		return ExOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExSoftware
}
