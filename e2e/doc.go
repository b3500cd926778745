// Package e2e holds the end-to-end tests: they build the real binary, run
// it as a subprocess the way PHP, cron and the other callers do, against the
// fake Entra ID and fake Exchange Online of internal/fakeexo.
package e2e
