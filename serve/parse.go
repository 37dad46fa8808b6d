// Package serve is zfs-vm's restricted remote side: an ssh forced command that runs the zfs
// command lines zfs-vm sends, and nothing else. The line (SSH_ORIGINAL_COMMAND) is parsed by
// a strict reader of exactly what zfs.QuoteCommand, Host.Pipeline and Host.RunAll produce,
// each command is checked against a Policy, and the accepted commands are run with os/exec,
// never through a shell.
package serve

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/zfs-vm/zfs-vm/internal/untrusted"
)

// token is one space-separated piece of a line: a word (after unquoting) or an operator of
// the few that zfs-vm's lines contain.
type token struct {
	text string
	op   bool
}

// safeWord is what shellescape leaves unquoted.
var safeWord = regexp.MustCompile(`^[\w@%+=:,./-]+$`)

// operators are the unquoted shell pieces of zfs-vm's lines: a pipe, and RunAll's
// "s=0; A || s=$?; B || s=$?; exit $s".
var operators = map[string]bool{"|": true, "||": true, "s=0;": true, "s=$?;": true, "$s": true}

// tokenize splits line at single spaces outside quotes and unquotes each word. Only the
// quoting shellescape produces is understood: a bare word of safe characters, or a word in
// single quotes where a quote is written '"'"'. Anything else is an error.
func tokenize(line string) ([]token, error) {
	var toks []token
	for len(line) > 0 {
		end := wordEnd(line)
		raw := line[:end]
		t, err := unquote(raw)
		if err != nil {
			return nil, err
		}
		toks = append(toks, t)
		line = line[end:]
		if line == "" {
			break
		}
		if line[0] != ' ' || len(line) == 1 {
			return nil, fmt.Errorf("unexpected %q", short(line))
		}
		line = line[1:]
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	return toks, nil
}

// wordEnd returns where the word at the start of s ends: at the first space outside quotes,
// or at the end (an unterminated quote runs to the end and fails in unquote).
func wordEnd(s string) int {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
		case c == '\'' || c == '"':
			quote = c
		case c == ' ':
			return i
		}
	}
	return len(s)
}

// unquote reads one raw word.
func unquote(raw string) (token, error) {
	if operators[raw] {
		return token{text: raw, op: true}, nil
	}
	if safeWord.MatchString(raw) {
		return token{text: raw}, nil
	}
	if raw == "" || raw[0] != '\'' {
		return token{}, fmt.Errorf("unexpected word %q", short(raw))
	}
	var b strings.Builder
	for rest := raw; rest != ""; {
		switch {
		case strings.HasPrefix(rest, `"'"`):
			b.WriteByte('\'')
			rest = rest[3:]
		case rest[0] == '\'':
			end := strings.IndexByte(rest[1:], '\'')
			if end < 0 {
				return token{}, fmt.Errorf("unterminated quote in %q", short(raw))
			}
			b.WriteString(rest[1 : 1+end])
			rest = rest[2+end:]
		default:
			return token{}, fmt.Errorf("unexpected word %q", short(raw))
		}
	}
	return token{text: b.String()}, nil
}

// unwrapSh reads the tokens of a line `sh -c SCRIPT`, the one way zfs-vm sends a pipeline or
// a sequence (so that a csh login shell runs it too), as the tokens of SCRIPT: read with the
// same rules, never given to a shell, and never unwrapped again. Any other line is returned
// as it is; wrapped says which.
func unwrapSh(toks []token) (inner []token, wrapped bool, err error) {
	if toks[0].op || toks[0].text != "sh" {
		return toks, false, nil
	}
	if len(toks) != 3 || toks[1].op || toks[1].text != "-c" || toks[2].op {
		return nil, false, fmt.Errorf("sh with other arguments than -c and one script")
	}
	inner, err = tokenize(toks[2].text)
	return inner, true, err
}

// shape is how the commands of a line are joined.
type shape int

const (
	single   shape = iota // one command
	pipeline              // A | B: the last stage's status
	sequence              // RunAll: every command, the last failure's status
)

// structure splits the tokens into commands (argv each) and says how they are joined.
func structure(toks []token) (shape, [][]string, error) {
	if toks[0].op && toks[0].text == "s=0;" {
		cmds, err := sequenceOf(toks[1:])
		return sequence, cmds, err
	}
	var cmds [][]string
	var cur []string
	for _, t := range toks {
		switch {
		case !t.op:
			cur = append(cur, t.text)
		case t.text == "|" && len(cur) > 0:
			cmds, cur = append(cmds, cur), nil
		default:
			return 0, nil, fmt.Errorf("unexpected %q", t.text)
		}
	}
	if len(cur) == 0 {
		return 0, nil, fmt.Errorf("a pipe with nothing after it")
	}
	cmds = append(cmds, cur)
	if len(cmds) == 1 {
		return single, cmds, nil
	}
	return pipeline, cmds, nil
}

// sequenceOf reads RunAll's "A || s=$?; B || s=$?; exit $s" (after "s=0;").
func sequenceOf(toks []token) ([][]string, error) {
	var cmds [][]string
	for {
		var cur []string
		for len(toks) > 0 && !toks[0].op {
			cur = append(cur, toks[0].text)
			toks = toks[1:]
		}
		if len(cur) == 0 || len(toks) < 2 || toks[0].text != "||" || toks[1].text != "s=$?;" {
			return nil, fmt.Errorf("not a command sequence of zfs-vm")
		}
		cmds = append(cmds, cur)
		toks = toks[2:]
		if len(toks) == 2 && !toks[0].op && toks[0].text == "exit" && toks[1].op && toks[1].text == "$s" {
			return cmds, nil
		}
	}
}

// short bounds what a message quotes of a peer's line and escapes it, so that a refusal is
// one line whatever the peer sent.
func short(s string) string {
	return untrusted.Printable(untrusted.Line(s, 60))
}
