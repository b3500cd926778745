package sendmail

import (
	"reflect"
	"testing"
	"time"
)

// Argument vectors observed from real callers (REFERENCE.md §C).
func TestParseArgsCallers(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want Invocation
	}{
		{"php mail()", []string{"-t", "-i"}, Invocation{ExtractRecipients: true, IgnoreDots: true}},
		{"php mail() 5th arg", []string{"-t", "-i", "-f", "app@x.test"}, Invocation{ExtractRecipients: true, IgnoreDots: true, Sender: "app@x.test"}},
		{"phpmailer twice -t", []string{"-t", "-i", "-oi", "-fapp@x.test", "-t"}, Invocation{ExtractRecipients: true, IgnoreDots: true, Sender: "app@x.test"}},
		{"debian cron", []string{"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "a@x.test,b@x.test"},
			Invocation{FullName: "CronDaemon", IgnoreDots: true, BodyType: "8BITMIME", Recipients: []string{"a@x.test,b@x.test"}, Notes: []string{"option -oem ignored"}}},
		{"cronie", []string{"-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t", "-f", "bob"},
			Invocation{FullName: "CronDaemon", IgnoreDots: true, Delivery: DeliverWait, ExtractRecipients: true, Sender: "bob", Notes: []string{"option -oem ignored"}}},
		{"git send-email", []string{"-f", "dev@x.test", "-i", "a@x.test", "b@x.test"}, Invocation{Sender: "dev@x.test", IgnoreDots: true, Recipients: []string{"a@x.test", "b@x.test"}}},
		{"mutt", []string{"-oem", "-oi", "-N", "failure,delay", "-R", "hdrs", "--", "a@x.test"},
			Invocation{IgnoreDots: true, DSNNotify: "failure,delay", DSNRet: "hdrs", Recipients: []string{"a@x.test"}, Notes: []string{"option -oem ignored"}}},
		{"symfony -bs", []string{"-bs"}, Invocation{Mode: ModeSMTP}},
		{"laravel -bs -i", []string{"-bs", "-i"}, Invocation{Mode: ModeSMTP, IgnoreDots: true}},
		{"clustered", []string{"-ti"}, Invocation{ExtractRecipients: true, IgnoreDots: true}},
		{"options after recipients", []string{"root", "-f", "cron@x.test"}, Invocation{Recipients: []string{"root"}, Sender: "cron@x.test"}},
		{"dash recipient after --", []string{"-i", "--", "-oQ/tmp"}, Invocation{IgnoreDots: true, Recipients: []string{"-oQ/tmp"}}},
		{"null sender", []string{"-f", "<>", "a@x.test"}, Invocation{Sender: "", Recipients: []string{"a@x.test"}}},
		{"-r", []string{"-r", "<a@x.test>", "b@x.test"}, Invocation{Sender: "a@x.test", Recipients: []string{"b@x.test"}}},
		{"mailq", []string{"-bp"}, Invocation{Mode: ModeList}},
		{"newaliases -I", []string{"-I"}, Invocation{Mode: ModeAliases}},
		{"queue once", []string{"-q"}, Invocation{Mode: ModeQueueRun}},
		{"queue interval", []string{"-q30m"}, Invocation{Mode: ModeQueueRun, QueueInterval: 30 * time.Minute}},
		{"queue site", []string{"-qRexample.com"}, Invocation{Mode: ModeQueueRun, QueueFilter: "Rexample.com"}},
		{"verbose twice", []string{"-v", "-v", "-C", "/tmp/c.toml", "x@y.test"}, Invocation{Verbose: 2, ConfigFile: "/tmp/c.toml", Recipients: []string{"x@y.test"}}},
		{"queue only", []string{"-odq", "x@y.test"}, Invocation{Delivery: DeliverQueue, Recipients: []string{"x@y.test"}}},
		{"unknown flag", []string{"-Z", "x@y.test"}, Invocation{Recipients: []string{"x@y.test"}, Warnings: []string{"unknown option -Z ignored"}}},
		{"legacy ignored", []string{"-U", "-G", "-L", "lbl", "-h", "3", "-X", "/tmp/log", "x@y.test"},
			Invocation{Recipients: []string{"x@y.test"}, Notes: []string{"option -U ignored", "option -G ignored", "option -Llbl ignored", "option -h3 ignored", "option -X/tmp/log ignored"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseArgs(tc.args)
			if err != nil {
				t.Fatalf("ParseArgs(%q): %v", tc.args, err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("ParseArgs(%q)\n got %+v\nwant %+v", tc.args, *got, tc.want)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-f"},                       // missing value
		{"-bd"},                      // daemon mode: not ours
		{"-q30x"},                    // bad unit
		{"-f", "a@b\r\nRCPT TO:<x>"}, // injection through the sender
	} {
		if inv, err := ParseArgs(args); err == nil {
			t.Errorf("ParseArgs(%q) = %+v, want an error", args, inv)
		}
	}
}
