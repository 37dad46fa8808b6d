package config

import "time"

// DefaultHookTimeout bounds how long a hook holds up a container stop when [hooks] sets no
// timeout.
const DefaultHookTimeout = 20 * time.Second

// HookTimeout returns how long a hook may hold up the container manager (checked by Load).
func (c *Config) HookTimeout() time.Duration {
	d, err := time.ParseDuration(c.Hooks.Timeout)
	if err != nil || d <= 0 {
		return DefaultHookTimeout
	}
	return d
}

// validHookTimeout reports whether [hooks] timeout is unset or a positive duration.
func validHookTimeout(s string) bool {
	if s == "" {
		return true
	}
	d, err := time.ParseDuration(s)
	return err == nil && d > 0
}
