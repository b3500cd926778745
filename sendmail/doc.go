// Package sendmail is the sendmail(8) interface: it turns argv into an
// Invocation through a Postfix-compatible flag table, runs the selected mode
// (-bm, -bs, -bp, -bv, -bi, -q) and maps every outcome to a sysexits code.
//
// deliver.go is the one place where the leaf packages meet: a reader can follow
// one message from stdin through config, message, queue, oauth and submit there.
package sendmail
