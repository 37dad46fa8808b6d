//go:build windows || plan9 || js || wasip1

package main

import (
	"errors"

	"github.com/sirupsen/logrus"
)

// syslogAvailable says whether this platform has a syslog to fall back on.
const syslogAvailable = false

func newSyslogHook() (logrus.Hook, error) { return nil, errors.New("no syslog on this platform") }
