// Package message owns the message a caller hands to sendmail: reading it
// once from stdin with a bounded header (go-message's textproto), the -t
// recipients, Bcc removal, the Date, Message-ID and From fix-ups, and
// writing it out with every line ending made CRLF while the body streams.
// It does no I/O of its own and knows nothing of configuration.
package message
