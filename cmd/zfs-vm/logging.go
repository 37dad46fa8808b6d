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

// logSink is where log entries go besides (or instead of) stderr.
type logSink int

const (
	sinkStderr  logSink = iota // stderr only
	sinkJournal                // the systemd journal, with fields
	sinkSyslog                 // syslog, where there is no journal (FreeBSD jail hosts)
)

// chooseSink decides where entries go. Hooks need a log outside stderr (container managers
// drop it): the journal where it is reachable, else syslog. Commands run by systemd log to
// the journal; on a terminal stderr is enough.
func chooseSink(hook, underSystemd, journalOK, syslogOK bool) logSink {
	switch {
	case journalOK && (hook || underSystemd):
		return sinkJournal
	case hook && syslogOK:
		return sinkSyslog
	}
	return sinkStderr
}

// Seams for tests: whether the journal is reachable, and how an entry is sent to it.
var (
	journalEnabled = journal.Enabled
	journalSend    = journal.Send
)

// enableJournal sends log entries to the systemd journal, with their fields as journal
// fields (PEER, STREAMLINE, DATASET, BYTES, ...), when the journal is reachable and zfs-vm
// runs under systemd or as a hook (whose stderr container managers drop); a hook on a host
// without a journal logs to syslog. On a terminal the human text stays on stderr too.
// Calling it again replaces the earlier choice, so each entry is written once.
func enableJournal(hook bool) {
	underSystemd := os.Getenv("INVOCATION_ID") != "" || os.Getenv("JOURNAL_STREAM") != ""
	sink := chooseSink(hook, underSystemd, journalEnabled(), syslogAvailable)
	log.ReplaceHooks(make(logrus.LevelHooks))
	switch sink {
	case sinkJournal:
		log.AddHook(journalHook{})
		if underSystemd && !hook {
			// stderr would reach the journal a second time, without fields.
			log.SetOutput(io.Discard)
		}
	case sinkSyslog:
		h, err := newSyslogHook()
		if err != nil {
			log.Debugf("no syslog: %v", err)
			return
		}
		log.AddHook(h)
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
	return journalSend(msg, journalPriority(e.Level), vars)
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
