package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// decodeError turns what BurntSushi/toml returns into an *Error with the
// line: syntax errors and values our types refuse come as toml.ParseError;
// type mismatches come as plain errors whose text carries line and key.
func decodeError(path, data string, err error) *Error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		// A value error (a bad duration, an out-of-range number) is found
		// after the syntax was read; telling it apart keeps "syntax" honest.
		var m map[string]any
		if _, serr := toml.Decode(data, &m); serr != nil || pe.LastKey == "" {
			return &Error{File: path, Line: pe.Position.Line, Msg: "TOML syntax error: " + oneLine(pe.Message)}
		}
		return &Error{File: path, Line: pe.Position.Line, Msg: fmt.Sprintf("%s: %s", pe.LastKey, oneLine(pe.Message))}
	}
	msg := strings.TrimPrefix(oneLine(err.Error()), "toml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, after, _ := strings.Cut(rest, " ")
		if n, err := strconv.Atoi(num); err == nil {
			line, msg = n, after
		}
	}
	key := ""
	if rest, ok := strings.CutPrefix(msg, "(last key "); ok {
		if q, after, ok := strings.Cut(rest, "): "); ok {
			if k, err := strconv.Unquote(q); err == nil {
				key, msg = k, after
			}
		}
	}
	if key == "" {
		return &Error{File: path, Line: line, Msg: msg}
	}
	return &Error{File: path, Line: line, Msg: fmt.Sprintf("key %q %s", key, typeHint(msg))}
}

// typeHint rewrites the library's Go-typed wording into TOML terms.
func typeHint(msg string) string {
	if rest, ok := strings.CutPrefix(msg, "incompatible types: TOML value has type "); ok {
		have, want, ok := strings.Cut(rest, "; destination has type ")
		if ok {
			return fmt.Sprintf("must be %s, not %s", tomlWant(want), tomlHave(have))
		}
	}
	if strings.HasPrefix(msg, "type mismatch for ") {
		if _, have, ok := strings.Cut(msg, "expected table but found "); ok {
			return fmt.Sprintf("must be a table ([name] or { ... }), not %s", tomlHave(have))
		}
	}
	return msg
}

func tomlHave(t string) string {
	switch {
	case t == "string":
		return "a string"
	case t == "int64":
		return "an integer"
	case t == "float64":
		return "a number with a fraction"
	case t == "bool":
		return "true/false"
	case t == "time.Time":
		return "a date"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "map"):
		return "a table"
	}
	return t
}

func tomlWant(t string) string {
	switch t {
	case "boolean", "bool":
		return "true or false"
	case "integer":
		return "a whole number"
	case "float":
		return "a number"
	case "string", "primitive (string-like)":
		return "a string in quotes"
	case "slice", "array":
		return "an array [ ... ]"
	case "map", "struct":
		return "a table"
	}
	return t
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

func unknownKey(k toml.Key) string {
	hint := ""
	if near := nearestKey(k); near != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", near)
	}
	return fmt.Sprintf("unknown key %q%s — check the spelling; see oauth-sendmail.toml(5)", k.String(), hint)
}

// nearestKey suggests the known key a typo most likely meant.
func nearestKey(k toml.Key) string {
	var t reflect.Type
	var last string
	top := map[string]bool{"queue": true, "profile": true, "aliases": true}
	switch {
	case len(k) == 1 || !top[k[0]]:
		t, last = reflect.TypeFor[rawConfig](), k[0]
	case len(k) == 2 && k[0] == "queue":
		t, last = reflect.TypeFor[rawQueue](), k[1]
	case len(k) == 3 && k[0] == "profile":
		t, last = reflect.TypeFor[rawProfile](), k[2]
	default:
		return ""
	}
	best, bestDist := "", 3 // further than two edits is a different word
	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("toml")
		if d := editDistance(strings.ToLower(last), name); d < bestDist {
			best, bestDist = name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// nonCanonical returns the component of k that names a field but is not
// spelt in lower case: BurntSushi/toml matches fields case-insensitively,
// and a silently accepted "Client_ID" would let a typo class through.
// Profile names and alias names are the user's own and keep their case.
func nonCanonical(k toml.Key) string {
	field := func(i int) string {
		if i < len(k) && k[i] != strings.ToLower(k[i]) {
			return k[i]
		}
		return ""
	}
	if s := field(0); s != "" {
		return s
	}
	switch k[0] {
	case "queue":
		return field(1)
	case "profile":
		return field(2)
	}
	return ""
}

// keyLines maps each key path ("profile.alerts.client_id") to the line that
// defines it: the library keeps key positions private, and an unknown-key
// error without its line sends the user hunting. It follows tables, dotted
// and quoted keys, and skips the insides of multi-line strings and arrays.
type keyLines map[string]int

func newKeyLines(data string) keyLines {
	lines := keyLines{}
	record := func(key string, n int) {
		if _, ok := lines[key]; !ok {
			lines[key] = n
		}
	}
	var s valueScanner
	table := ""
	for n, line := range strings.Split(data, "\n") {
		n++
		if s.open() {
			s.scan(line)
			continue
		}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' {
			inner := strings.TrimLeft(line, "[")
			if end := strings.IndexByte(inner, ']'); end >= 0 {
				table = splitKey(inner[:end])
				record(table, n)
			}
			continue
		}
		eq := indexOutsideQuotes(line, '=')
		if eq <= 0 {
			continue
		}
		key := splitKey(line[:eq])
		if table != "" {
			key = table + "." + key
		}
		record(key, n)
		s.scan(line[eq+1:])
	}
	return lines
}

// of returns the line of key, or of the nearest thing that defines it: the
// first line inside it (an unknown table) or its closest parent (a key in
// an inline table).
func (l keyLines) of(key []string) int {
	k := strings.Join(key, ".")
	if n, ok := l[k]; ok {
		return n
	}
	first := 0
	for name, n := range l {
		if strings.HasPrefix(name, k+".") && (first == 0 || n < first) {
			first = n
		}
	}
	if first > 0 {
		return first
	}
	for i := len(key) - 1; i > 0; i-- {
		if n, ok := l[strings.Join(key[:i], ".")]; ok {
			return n
		}
	}
	return 0
}

func splitKey(s string) string {
	var parts []string
	for _, p := range strings.Split(s, ".") {
		p = strings.TrimSpace(p)
		p = strings.Trim(p, `"'`)
		parts = append(parts, p)
	}
	return strings.Join(parts, ".")
}

func indexOutsideQuotes(s string, c byte) int {
	var quote byte
	for i := 0; i < len(s); i++ {
		switch {
		case quote != 0:
			if s[i] == '\\' && quote == '"' {
				i++
			} else if s[i] == quote {
				quote = 0
			}
		case s[i] == '"' || s[i] == '\'':
			quote = s[i]
		case s[i] == c:
			return i
		}
	}
	return -1
}

// valueScanner follows a value across lines: whether a multi-line string
// or a bracket is still open.
type valueScanner struct {
	multi string // `"""` or `'''` while inside one
	depth int    // open [ and {
}

func (v *valueScanner) open() bool { return v.multi != "" || v.depth > 0 }

func (v *valueScanner) scan(s string) {
	for i := 0; i < len(s); i++ {
		if v.multi != "" {
			end := strings.Index(s[i:], v.multi)
			if end < 0 {
				return
			}
			i += end + len(v.multi) - 1
			v.multi = ""
			continue
		}
		switch c := s[i]; c {
		case '#':
			return
		case '[', '{':
			v.depth++
		case ']', '}':
			if v.depth > 0 {
				v.depth--
			}
		case '"', '\'':
			delim := strings.Repeat(string(c), 3)
			if strings.HasPrefix(s[i:], delim) {
				v.multi = delim
				i += 2
				continue
			}
			for i++; i < len(s) && s[i] != c; i++ {
				if c == '"' && s[i] == '\\' {
					i++
				}
			}
		}
	}
}
