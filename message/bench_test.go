package message

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// -t header parsing of a message with 100 recipients.
func BenchmarkRecipients100(b *testing.B) {
	var to []string
	for i := 0; i < 100; i++ {
		to = append(to, fmt.Sprintf("\"User %d\" <user%d@example.test>", i, i))
	}
	msg := "From: a@b.test\nTo: " + strings.Join(to[:50], ",\n ") + "\nCc: " + strings.Join(to[50:], ", ") + "\nSubject: x\n\nbody\n"
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		m, err := Read(strings.NewReader(msg), Options{})
		if err != nil {
			b.Fatal(err)
		}
		r, err := m.Recipients()
		if err != nil || len(r) != 100 {
			b.Fatal(len(r), err)
		}
	}
}

// Streaming a 30 MB body through Read and WriteTo.
func BenchmarkStream30MB(b *testing.B) {
	const size = 30 << 20
	b.SetBytes(size)
	for b.Loop() {
		m, err := Read(io.MultiReader(strings.NewReader("Subject: big\n\n"), io.LimitReader(infiniteLines{}, size)), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
