package sendmail

import (
	"fmt"
	"strings"
	"time"
)

// Mode is what one invocation does.
type Mode int

const (
	ModeDeliver  Mode = iota // -bm (default): read a message, deliver it
	ModeSMTP                 // -bs: an SMTP dialogue on stdin/stdout
	ModeList                 // -bp, mailq: list the queue
	ModeVerify               // -bv: resolve recipients, deliver nothing
	ModeAliases              // -bi, -I, newaliases: validate the alias table
	ModeQueueRun             // -q: run the queue
)

// Delivery says how long the submitting process waits (-od*).
type Delivery int

const (
	DeliverNow   Delivery = iota // default: try right away, queue on temporary failure, exit 0
	DeliverWait                  // -odi: try right away and report the real outcome (75 on temporary)
	DeliverQueue                 // -odq, -odd: only queue
)

// Invocation is everything argv says about one run.
type Invocation struct {
	Mode              Mode
	Delivery          Delivery
	Sender            string   // -f, -r: envelope sender
	FullName          string   // -F
	ExtractRecipients bool     // -t
	IgnoreDots        bool     // -i, -oi
	Recipients        []string // after the options (each may be an address list)
	Verbose           int      // -v, repeatable
	ConfigFile        string   // -C
	BodyType          string   // -B
	DSNNotify         string   // -N
	DSNRet            string   // -R
	EnvID             string   // -V
	QueueInterval     time.Duration
	QueueFilter       string   // -qR..., -qS..., -qI...: the letter and the value
	Notes             []string // legacy options accepted and ignored (shown with -v)
	Warnings          []string // unknown options, ignored (always shown on stderr)
}

type argKind int

const (
	noArg       argKind = iota
	requiredArg         // glued (-fuser) or the next argument (-f user)
	gluedArg            // only glued (-q, -q30m): the next argument is never taken
)

type option struct {
	kind  argKind
	apply func(inv *Invocation, val string) error
}

// options is Postfix sendmail(1)'s option set
// (getopt "A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx"). Adding a flag is
// adding a row.
var options = map[byte]option{
	'A': {requiredArg, ignored("-A")},
	'B': {requiredArg, func(inv *Invocation, v string) error { inv.BodyType = strings.ToUpper(v); return nil }},
	'C': {requiredArg, func(inv *Invocation, v string) error { inv.ConfigFile = v; return nil }},
	'F': {requiredArg, setFullName},
	'G': {noArg, ignored("-G")},
	'I': {noArg, func(inv *Invocation, _ string) error { inv.Mode = ModeAliases; return nil }},
	'L': {requiredArg, ignored("-L")},
	'N': {requiredArg, func(inv *Invocation, v string) error { inv.DSNNotify = v; return nil }},
	'O': {requiredArg, ignored("-O")},
	'R': {requiredArg, func(inv *Invocation, v string) error { inv.DSNRet = v; return nil }},
	'U': {noArg, ignored("-U")},
	'V': {requiredArg, func(inv *Invocation, v string) error { inv.EnvID = v; return nil }},
	'X': {requiredArg, ignored("-X")},
	'b': {requiredArg, setMode},
	'c': {noArg, ignored("-c")},
	'e': {requiredArg, ignored("-e")},
	'f': {requiredArg, setSender},
	'h': {requiredArg, ignored("-h")},
	'i': {noArg, func(inv *Invocation, _ string) error { inv.IgnoreDots = true; return nil }},
	'm': {noArg, ignored("-m")},
	'n': {noArg, ignored("-n")},
	'o': {requiredArg, setOption},
	'p': {requiredArg, ignored("-p")},
	'q': {gluedArg, setQueueRun},
	'r': {requiredArg, setSender},
	't': {noArg, func(inv *Invocation, _ string) error { inv.ExtractRecipients = true; return nil }},
	'v': {noArg, func(inv *Invocation, _ string) error { inv.Verbose++; return nil }},
	'x': {noArg, ignored("-x")},
}

func ignored(name string) func(*Invocation, string) error {
	return func(inv *Invocation, v string) error {
		inv.Notes = append(inv.Notes, fmt.Sprintf("option %s%s ignored", name, v))
		return nil
	}
}

func setSender(inv *Invocation, v string) error {
	v = strings.TrimSpace(v)
	if strings.ContainsAny(v, "\r\n\x00") {
		return fmt.Errorf("sender %q contains a line break or NUL: give a plain address to -f", v)
	}
	// "<>" is the null sender; "<a@b>" is a@b.
	inv.Sender = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
	return nil
}

func setFullName(inv *Invocation, v string) error {
	for _, r := range v {
		if r < ' ' || r == 0x7f {
			return fmt.Errorf("-F %q contains a control character (line break, NUL...): give a plain name", v)
		}
	}
	inv.FullName = v
	return nil
}

func setMode(inv *Invocation, v string) error {
	switch v {
	case "m":
		inv.Mode = ModeDeliver
	case "s":
		inv.Mode = ModeSMTP
	case "p":
		inv.Mode = ModeList
	case "v":
		inv.Mode = ModeVerify
	case "i":
		inv.Mode = ModeAliases
	default:
		return fmt.Errorf("-b%s is not supported: use -bm (deliver), -bs (SMTP on stdin), -bp (list queue), -bv (verify) or -bi (aliases)", v)
	}
	return nil
}

// setOption handles the legacy -oX options: -oi and -od* mean something to us,
// the rest (-oem, -oep, -oQ..., -o7, -om ...) are accepted and ignored.
func setOption(inv *Invocation, v string) error {
	switch {
	case v == "i":
		inv.IgnoreDots = true
	case strings.HasPrefix(v, "d"):
		switch v {
		case "di":
			inv.Delivery = DeliverWait
		case "dq", "dd":
			inv.Delivery = DeliverQueue
		case "db", "d":
			inv.Delivery = DeliverNow
		default:
			inv.Notes = append(inv.Notes, fmt.Sprintf("option -o%s ignored", v))
		}
	default:
		inv.Notes = append(inv.Notes, fmt.Sprintf("option -o%s ignored", v))
	}
	return nil
}

func setQueueRun(inv *Invocation, v string) error {
	inv.Mode = ModeQueueRun
	if v == "" {
		return nil
	}
	switch v[0] {
	case 'R', 'S', 'I', 'Q', '!':
		inv.QueueFilter = v
		return nil
	}
	d, err := parseInterval(v)
	if err != nil {
		return fmt.Errorf("-q%s: %v (use -q for one run or -q30m to repeat every 30 minutes)", v, err)
	}
	inv.QueueInterval = d
	return nil
}

// parseInterval reads sendmail's -q intervals: 30m, 1h30m, 90s, 1d, or bare
// minutes.
func parseInterval(s string) (time.Duration, error) {
	var total time.Duration
	num := 0
	digits := false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			num = num*10 + int(c-'0')
			digits = true
			if num > 1e6 {
				return 0, fmt.Errorf("interval too large")
			}
			continue
		case !digits:
			return 0, fmt.Errorf("bad interval")
		}
		unit := map[rune]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[c]
		if unit == 0 {
			return 0, fmt.Errorf("bad interval unit %q", c)
		}
		total += time.Duration(num) * unit
		num, digits = 0, false
	}
	if digits {
		total += time.Duration(num) * time.Minute
	}
	if total <= 0 {
		return 0, fmt.Errorf("bad interval")
	}
	return total, nil
}

// ParseArgs reads argv (without the program name) like Postfix's sendmail on
// glibc: options may follow recipients, "--" ends them, clustered flags (-ti)
// work, and unknown options are noted and ignored, never fatal.
func ParseArgs(args []string) (*Invocation, error) {
	inv := &Invocation{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			inv.Recipients = append(inv.Recipients, args[i+1:]...)
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			inv.Recipients = append(inv.Recipients, arg)
			continue
		}
		for j := 1; j < len(arg); j++ {
			opt, ok := options[arg[j]]
			if !ok {
				inv.Warnings = append(inv.Warnings, fmt.Sprintf("unknown option -%c ignored", arg[j]))
				continue
			}
			val := ""
			switch opt.kind {
			case requiredArg:
				val = arg[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return nil, fmt.Errorf("option -%c needs a value", arg[j])
					}
					i++
					val = args[i]
				}
				j = len(arg)
			case gluedArg:
				val = arg[j+1:]
				j = len(arg)
			}
			if err := opt.apply(inv, val); err != nil {
				return nil, err
			}
		}
	}
	return inv, nil
}
