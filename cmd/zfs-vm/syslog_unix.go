//go:build !windows && !plan9 && !js && !wasip1

package main

import (
	"fmt"
	"log/syslog"
	"sort"

	"github.com/sirupsen/logrus"
)

// syslogAvailable says whether this platform has a syslog to fall back on.
const syslogAvailable = true

// syslogHook writes each entry as one syslog message, its fields appended as key=value
// (syslog has no structured fields).
type syslogHook struct{ w *syslog.Writer }

func newSyslogHook() (logrus.Hook, error) {
	w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "zfs-vm")
	if err != nil {
		return nil, err
	}
	return syslogHook{w}, nil
}

func (syslogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h syslogHook) Fire(e *logrus.Entry) error {
	msg := syslogLine(e)
	switch e.Level {
	case logrus.PanicLevel, logrus.FatalLevel:
		return h.w.Crit(msg)
	case logrus.ErrorLevel:
		return h.w.Err(msg)
	case logrus.WarnLevel:
		return h.w.Warning(msg)
	case logrus.InfoLevel:
		return h.w.Info(msg)
	}
	return h.w.Debug(msg)
}

// syslogLine is the message, its error, then the other fields sorted by name.
func syslogLine(e *logrus.Entry) string {
	msg := e.Message
	if err, ok := e.Data[logrus.ErrorKey]; ok {
		msg += fmt.Sprintf(": %v", err)
	}
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		if k != logrus.ErrorKey {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		msg += fmt.Sprintf(" %s=%v", k, e.Data[k])
	}
	return msg
}
