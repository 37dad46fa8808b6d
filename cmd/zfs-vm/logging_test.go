package main

import (
	"testing"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/sirupsen/logrus"
)

func TestChooseSink(t *testing.T) {
	cases := []struct {
		hook, underSystemd, journalOK, syslogOK bool
		want                                    logSink
	}{
		{false, false, true, true, sinkStderr},  // a terminal
		{false, true, true, true, sinkJournal},  // a timer's service
		{true, false, true, true, sinkJournal},  // a hook on a systemd host
		{true, true, true, true, sinkJournal},   // a hook of a container started by a unit
		{true, false, false, true, sinkSyslog},  // a hook on a FreeBSD jail host
		{true, false, false, false, sinkStderr}, // nowhere else to go
		{false, true, false, true, sinkStderr},  // systemd without its journal: stderr
		{false, false, false, true, sinkStderr}, // a terminal without a journal
	}
	for _, c := range cases {
		if got := chooseSink(c.hook, c.underSystemd, c.journalOK, c.syslogOK); got != c.want {
			t.Errorf("chooseSink(hook=%v systemd=%v journal=%v syslog=%v) = %v, want %v",
				c.hook, c.underSystemd, c.journalOK, c.syslogOK, got, c.want)
		}
	}
}

// A hook run under systemd (a container started by a unit) went through Before's
// enableJournal and runHook's: every line reached the journal twice.
func TestHookLogsOnceToJournal(t *testing.T) {
	var sent []string
	oldEnabled, oldSend := journalEnabled, journalSend
	journalEnabled = func() bool { return true }
	journalSend = func(msg string, _ journal.Priority, _ map[string]string) error {
		sent = append(sent, msg)
		return nil
	}
	t.Cleanup(func() {
		journalEnabled, journalSend = oldEnabled, oldSend
		log.ReplaceHooks(make(logrus.LevelHooks))
	})
	t.Setenv("INVOCATION_ID", "0123")
	out, _, status := runKeepPath(t, "hook", "nosuchmanager")
	if status != 0 {
		t.Fatalf("hook: status %d output %q", status, out)
	}
	if len(sent) != 1 {
		t.Errorf("journal got %d entries, want 1: %q", len(sent), sent)
	}
}
