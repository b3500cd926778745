// Command oauth-sendmail is a drop-in sendmail(8) that delivers through
// Exchange Online with OAuth 2.0. One binary answers to several names:
// sendmail, mailq, newaliases, and oauth-sendmail <command>.
package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/oauth-sendmail/oauth-sendmail/admin"
	"github.com/oauth-sendmail/oauth-sendmail/sendmail"
)

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	env := sendmail.OSEnv()
	switch {
	case name == "mailq":
		os.Exit(sendmail.Main(append([]string{"-bp"}, args...), env))
	case name == "newaliases":
		os.Exit(sendmail.Main(append([]string{"-bi"}, args...), env))
	case strings.HasPrefix(name, "oauth-sendmail") && (len(args) == 0 || admin.IsCommand(args[0])):
		os.Exit(admin.Main(args, env))
	default:
		os.Exit(sendmail.Main(args, env))
	}
}
