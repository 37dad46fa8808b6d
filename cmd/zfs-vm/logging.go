package main

import (
	"bytes"
	"fmt"
	"os"
	"sort"

	"github.com/sirupsen/logrus"
)

var log = logrus.New()

// setupLogging sends human text to stderr: one line per event, prefixed by its level unless
// it is plain information. Structured fields are shown with -d.
func setupLogging(debug bool) {
	log.SetOutput(os.Stderr)
	log.SetFormatter(&humanFormatter{fields: debug})
	log.SetLevel(logrus.InfoLevel)
	if debug {
		log.SetLevel(logrus.DebugLevel)
	}
}

type humanFormatter struct{ fields bool }

func (f *humanFormatter) Format(e *logrus.Entry) ([]byte, error) {
	var b bytes.Buffer
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
