package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/sirupsen/logrus"
)

var log = logrus.New()

// setupLogging sends human text to w (stderr): one line per event, prefixed by its level
// unless it is plain information. Structured fields are shown with -d.
func setupLogging(w io.Writer, debug bool) {
	if w == nil {
		w = os.Stderr
	}
	log.SetOutput(w)
	log.SetFormatter(&humanFormatter{fields: debug})
	log.SetLevel(logrus.InfoLevel)
	if debug {
		log.SetLevel(logrus.DebugLevel)
	}
}

type humanFormatter struct{ fields bool }

func (f *humanFormatter) Format(e *logrus.Entry) ([]byte, error) {
	var b bytes.Buffer
	if stderrIsTerminal {
		b.WriteString(clearLine) // over a progress line
	}
	switch e.Level {
	case logrus.InfoLevel:
	case logrus.WarnLevel:
		b.WriteString("warning: ")
	case logrus.DebugLevel, logrus.TraceLevel:
		b.WriteString("debug: ")
	default:
		b.WriteString("error: ")
	}
	b.WriteString(e.Message)
	if err, ok := e.Data[logrus.ErrorKey]; ok {
		fmt.Fprintf(&b, ": %v", err)
	}
	if f.fields {
		keys := make([]string, 0, len(e.Data))
		for k := range e.Data {
			if k != logrus.ErrorKey {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%v", k, e.Data[k])
		}
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// enableJournal sends log entries to the systemd journal, with their fields as journal
// fields (PEER, STREAMLINE, DATASET, BYTES, ...), when the journal is reachable and zfs-vm
// runs under systemd or as a hook (whose stderr container managers drop). On a terminal the
// human text stays on stderr too.
func enableJournal(hook bool) {
	underSystemd := os.Getenv("INVOCATION_ID") != "" || os.Getenv("JOURNAL_STREAM") != ""
	if !journal.Enabled() || !hook && !underSystemd {
		return
	}
	log.AddHook(journalHook{})
	if underSystemd && !hook {
		// stderr would reach the journal a second time, without fields.
		log.SetOutput(io.Discard)
	}
}

type journalHook struct{}

func (journalHook) Levels() []logrus.Level { return logrus.AllLevels }

func (journalHook) Fire(e *logrus.Entry) error {
	vars := map[string]string{"SYSLOG_IDENTIFIER": "zfs-vm"}
	for k, v := range e.Data {
		vars[journalField(k)] = fmt.Sprint(v)
	}
	msg := e.Message
	if err, ok := e.Data[logrus.ErrorKey]; ok {
		msg += ": " + fmt.Sprint(err)
	}
	return journal.Send(msg, journalPriority(e.Level), vars)
}

// journalField turns a logrus field name into a journal field name: upper case letters,
// digits and underscores, not starting with an underscore.
func journalField(k string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(k) {
		if c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return strings.TrimLeft(b.String(), "_")
}

func journalPriority(l logrus.Level) journal.Priority {
	switch l {
	case logrus.PanicLevel, logrus.FatalLevel:
		return journal.PriCrit
	case logrus.ErrorLevel:
		return journal.PriErr
	case logrus.WarnLevel:
		return journal.PriWarning
	case logrus.InfoLevel:
		return journal.PriInfo
	}
	return journal.PriDebug
}
