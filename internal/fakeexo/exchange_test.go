package fakeexo

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

type plainXOAUTH2 struct{ user, token string }

func (x plainXOAUTH2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}
func (x plainXOAUTH2) Next([]byte) ([]byte, error) { return []byte{}, nil }

var _ sasl.Client = plainXOAUTH2{}

// The fake behaves like Exchange where the tests rely on it: no AUTH
// before STARTTLS, 530 for MAIL without AUTH, 535 for a bad token, a 421
// greeting fault, SendAs judged at the end of DATA.
func TestExchangeLikeBehaviour(t *testing.T) {
	ca, err := NewCA(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	x, err := NewExchange(ca, func(user, token string) error {
		if token == "good" {
			return nil
		}
		return errors.New("bad")
	})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()

	plain, err := smtp.Dial(x.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := plain.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS")
	}
	if err := plain.Mail("alerts@x.test", nil); !hasCode(err, 530, smtp.EnhancedCode{5, 7, 57}) {
		t.Errorf("MAIL without AUTH: %v", err)
	}
	plain.Close()

	dial := func() *smtp.Client {
		c, err := smtp.DialStartTLS(x.Addr, &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := dial()
	if err := c.Auth(plainXOAUTH2{"alerts@x.test", "bad"}); !hasCode(err, 535, smtp.EnhancedCode{5, 7, 3}) {
		t.Errorf("bad token: %v", err)
	}
	c.Close()

	c = dial()
	if err := c.Auth(plainXOAUTH2{"alerts@x.test", "good"}); err != nil {
		t.Fatal(err)
	}
	err = c.SendMail("alerts@x.test", []string{"a@y.test"}, strings.NewReader("From: ceo@x.test\r\n\r\nx\r\n"))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 554 || se.EnhancedCode != (smtp.EnhancedCode{5, 2, 252}) {
		t.Errorf("SendAs: %v", err)
	}
	if err := c.SendMail("alerts@x.test", []string{"a@y.test"}, strings.NewReader("From: alerts@x.test\r\n\r\nx\r\n")); err != nil {
		t.Errorf("own From: %v", err)
	}
	c.Close()
	if got := x.Received(); len(got) != 1 || got[0].User != "alerts@x.test" {
		t.Errorf("received %+v", got)
	}

	x.Inject(Fault{Stage: "greeting", Code: 421, Enhanced: "4.3.2", Text: "Service not available"})
	g, err := smtp.Dial(x.Addr)
	if err == nil {
		err = g.Hello("h")
		g.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "421") {
		t.Errorf("greeting fault: %v", err)
	}
	if x.Connections() != 4 {
		t.Errorf("%d connections counted, want 4", x.Connections())
	}
}

func hasCode(err error, code int, enh smtp.EnhancedCode) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code == code && se.EnhancedCode == enh
}
