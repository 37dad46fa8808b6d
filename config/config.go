// Package config loads /etc/zfs-vm/zfs-vm.toml: the peers that `zfs-vm sync` replicates with,
// and which containers the hooks tag. Unknown keys and wrong types are errors that name the
// file, the line and the key.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"

	"github.com/zfs-vm/zfs-vm/replicate"
	"github.com/zfs-vm/zfs-vm/zfs"
)

// DefaultPath is where the packages install the configuration.
const DefaultPath = "/etc/zfs-vm/zfs-vm.toml"

// Config is the whole file.
type Config struct {
	// MetricsFile, when set, is where `zfs-vm sync` writes Prometheus textfile metrics.
	MetricsFile string       `toml:"metrics_file"`
	Defaults    PeerDefaults `toml:"defaults"`
	Peers       []Peer       `toml:"peer"`
	Hooks       Hooks        `toml:"hooks"`
}

// PeerDefaults apply to every peer that does not set the key itself.
type PeerDefaults struct {
	Sudo        *bool    `toml:"sudo"`
	SSHOptions  []string `toml:"ssh_options"`
	Schedule    string   `toml:"schedule"`
	Streamlines []string `toml:"streamlines"`
	Dest        string   `toml:"dest"`
	Direction   string   `toml:"direction"`
	SendOptions []string `toml:"send_options"`
	Compress    string   `toml:"compress"`
	BWLimit     string   `toml:"bwlimit"`
	Mountable   *bool    `toml:"mountable"`
	Streams     int      `toml:"streams"`
	WarnBehind  int      `toml:"warn_behind"`
	CritBehind  int      `toml:"crit_behind"`
	WarnAge     string   `toml:"warn_age"`
	CritAge     string   `toml:"crit_age"`
}

// Peer is one host to replicate with.
type Peer struct {
	Name string `toml:"name"`
	// Host is [user@]host[:port].
	Host string `toml:"host"`
	// Direction is "push" (send this host's versions) or "pull" (fetch the peer's).
	Direction string `toml:"direction"`
	// Streamlines limits the peer to these streamlines; empty means all.
	Streamlines []string `toml:"streamlines"`
	// Dest is the parent dataset on the receiving side (-d); empty keeps the sender's names.
	Dest       string   `toml:"dest"`
	Sudo       *bool    `toml:"sudo"`
	SSHOptions []string `toml:"ssh_options"`
	// Schedule is a systemd OnCalendar expression for the peer's timer.
	Schedule string `toml:"schedule"`
	// SendOptions are zfs send options: compressed, large-blocks, embedded, raw.
	SendOptions []string `toml:"send_options"`
	// Compress is the compressor on the wire: "zstd" (used when both hosts have it) or "none".
	Compress string `toml:"compress"`
	// BWLimit caps the bytes per second on the wire, e.g. "10M" or "512KiB"; empty for none.
	BWLimit string `toml:"bwlimit"`
	// Mountable receives new filesystems mountable by `zfs mount -a` (at the mountpoint they
	// inherit on the receiver) instead of with canmount=noauto.
	Mountable *bool `toml:"mountable"`
	// Streams is how many streams run at once (replicate.Executor.Streams); 0 for one.
	Streams int `toml:"streams"`
	// WarnBehind and CritBehind are `zfs-vm status`'s limits on the versions the receiver
	// lacks, per streamline (0: not checked); WarnAge and CritAge on the time since the last
	// successful sync, as Go durations ("36h"; empty: not checked).
	WarnBehind int    `toml:"warn_behind"`
	CritBehind int    `toml:"crit_behind"`
	WarnAge    string `toml:"warn_age"`
	CritAge    string `toml:"crit_age"`
}

// Thresholds are a peer's alerting limits for `zfs-vm status`; zero means not checked.
type Thresholds struct {
	WarnBehind, CritBehind int
	WarnAge, CritAge       time.Duration
}

// Thresholds returns the peer's limits (checked by Load).
func (p Peer) Thresholds() Thresholds {
	warn, _ := parseAge(p.WarnAge)
	crit, _ := parseAge(p.CritAge)
	return Thresholds{WarnBehind: p.WarnBehind, CritBehind: p.CritBehind, WarnAge: warn, CritAge: crit}
}

// parseAge reads warn_age or crit_age: empty, or a positive Go duration.
func parseAge(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: want a duration such as 90m or 36h", s)
	}
	return d, nil
}

// checkThresholds refuses negative or inverted limits and ages that are not durations.
func (p Peer) checkThresholds() (key string, err error) {
	if p.WarnBehind < 0 || p.CritBehind < 0 {
		return "peer.warn_behind", fmt.Errorf("peer %s: warn_behind and crit_behind count versions: 0 or more", p.Name)
	}
	if p.WarnBehind > 0 && p.CritBehind > 0 && p.CritBehind < p.WarnBehind {
		return "peer.crit_behind", fmt.Errorf("peer %s: crit_behind %d is below warn_behind %d", p.Name, p.CritBehind, p.WarnBehind)
	}
	warn, err := parseAge(p.WarnAge)
	if err != nil {
		return "peer.warn_age", fmt.Errorf("peer %s: warn_age %v", p.Name, err)
	}
	crit, err := parseAge(p.CritAge)
	if err != nil {
		return "peer.crit_age", fmt.Errorf("peer %s: crit_age %v", p.Name, err)
	}
	if warn > 0 && crit > 0 && crit < warn {
		return "peer.crit_age", fmt.Errorf("peer %s: crit_age %s is below warn_age %s", p.Name, p.CritAge, p.WarnAge)
	}
	return "", nil
}

// Hooks selects what the container managers' hooks tag.
type Hooks struct {
	// Tag is "lineage" (default: tag a stopped container whose dataset already belongs to a
	// streamline), "selected" (only the containers and streamlines listed) or "off".
	Tag string `toml:"tag"`
	// Containers are IDs or names that are always tagged when they changed.
	Containers []string `toml:"containers"`
	// Streamlines: containers of these streamlines are tagged when they changed.
	Streamlines []string `toml:"streamlines"`
	// Templates are container IDs or names of templates: tagged whenever they changed, when
	// they stop and, with zfs-vm-tag-templates.timer, when written in place (where an entry
	// may also be a dataset or a mountpoint).
	Templates []string `toml:"templates"`
	// Recursive are container IDs, names or streamlines whose images are dataset trees:
	// tagged with zfs snapshot -r (the container's dataset and all descendants).
	Recursive []string `toml:"recursive"`
	// Timeout is how long a hook may hold up the container manager, e.g. "20s" (the default,
	// DefaultHookTimeout); tagging that takes longer goes on in the background.
	Timeout string `toml:"timeout"`
}

// DefaultSchedule is the OnCalendar of a peer that sets none.
const DefaultSchedule = "hourly"

// Error is a configuration mistake, with where it is.
type Error struct {
	File string
	Line int // 0 when unknown
	Key  string
	Msg  string
}

// Error is always one line: the file's own text (keys, quoted values in the parser's
// messages) can hold newlines and other control characters, so they are escaped.
func (e *Error) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key != "" {
		return oneLine(fmt.Sprintf("%s: %s: %s", where, e.Key, e.Msg))
	}
	return oneLine(fmt.Sprintf("%s: %s", where, e.Msg))
}

// oneLine escapes control characters (a newline becomes \n) and leaves the rest as it is.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Load reads and validates a configuration file. A missing file is an empty configuration
// when missingOK is set.
func Load(path string, missingOK bool) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && missingOK {
		c := &Config{}
		return c, c.validate(path, nil)
	}
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse decodes and validates the text of a configuration file named path.
func Parse(path string, text []byte) (*Config, error) {
	var c Config
	md, err := toml.Decode(string(text), &c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: path, Line: pe.Position.Line, Msg: pe.Message}
		}
		msg := strings.TrimPrefix(err.Error(), "toml: ")
		if m := decodeErrorPattern.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &Error{File: path, Line: line, Key: m[2], Msg: m[3]}
		}
		return nil, &Error{File: path, Msg: msg}
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		return nil, &Error{File: path, Line: keyLine(text, k), Key: k.String(), Msg: "unknown key"}
	}
	return &c, c.validate(path, text)
}

// decodeErrorPattern matches the type errors toml.Decode returns.
var decodeErrorPattern = regexp.MustCompile(`^line (\d+) \(last key "([^"]*)"\): (.*)$`)

// keyLine finds the line that sets key, tracking [table] and [[array]] headers.
func keyLine(text []byte, key toml.Key) int {
	table, last := strings.Join(key[:len(key)-1], "."), key[len(key)-1]
	current := ""
	sc := bufio.NewScanner(bytes.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			current = strings.TrimSpace(strings.Trim(line, "[]"))
			if current == strings.Join(key, ".") {
				return n
			}
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if ok && current == table && strings.Trim(strings.TrimSpace(k), `"'`) == last {
			return n
		}
	}
	return 0
}

func (c *Config) validate(path string, text []byte) error {
	fail := func(key, format string, a ...any) error {
		line := 0
		if text != nil {
			line = keyLine(text, strings.Split(key, "."))
		}
		return &Error{File: path, Line: line, Key: key, Msg: fmt.Sprintf(format, a...)}
	}
	seen := map[string]bool{}
	for i := range c.Peers {
		p := c.Peers[i].Resolved(c.Defaults)
		if p.Name == "" {
			return fail("peer.name", "peer #%d has no name", i+1)
		}
		if !validPeerName(p.Name) {
			return fail("peer.name", "%q: use letters, digits, '-', '_' and '.' (it names a systemd unit)", p.Name)
		}
		if seen[p.Name] {
			return fail("peer.name", "peer %q is defined twice", p.Name)
		}
		seen[p.Name] = true
		if _, _, err := zfs.ParseHostSpec(p.Host); err != nil {
			return fail("peer.host", "peer %s: %v", p.Name, err)
		}
		if p.Direction != "push" && p.Direction != "pull" {
			return fail("peer.direction", "peer %s: %q: use push or pull", p.Name, p.Direction)
		}
		for _, s := range p.Streamlines {
			if err := zfs.ValidateStreamline(s); err != nil {
				return fail("peer.streamlines", "peer %s: %v", p.Name, err)
			}
		}
		if p.Dest != "" {
			if err := zfs.ValidateDatasetName(p.Dest); err != nil {
				return fail("peer.dest", "peer %s: %v", p.Name, err)
			}
		}
		if p.Mountable != nil && *p.Mountable && p.Dest == "" {
			// Without dest the sender names the received datasets, and so what they inherit.
			return fail("peer.mountable", "peer %s: mountable needs dest: without it the sender chooses the names, and so the mountpoints", p.Name)
		}
		if _, err := zfs.SendOptions(p.SendOptions); err != nil {
			return fail("peer.send_options", "peer %s: %v", p.Name, err)
		}
		if _, err := replicate.ParseCompress(p.Compress); err != nil {
			return fail("peer.compress", "peer %s: %v", p.Name, err)
		}
		if _, err := replicate.ParseRate(p.BWLimit); err != nil {
			return fail("peer.bwlimit", "peer %s: %v", p.Name, err)
		}
		if p.Streams < 0 || p.Streams > replicate.MaxStreams {
			return fail("peer.streams", "peer %s: %d: use 1 to %d", p.Name, p.Streams, replicate.MaxStreams)
		}
		if key, err := p.checkThresholds(); err != nil {
			return fail(key, "%v", err)
		}
		if err := checkSSHOptions(p.SSHOptions); err != nil {
			return fail("peer.ssh_options", "peer %s: %v", p.Name, err)
		}
	}
	switch c.Hooks.Tag {
	case "", "lineage", "selected", "off":
	default:
		return fail("hooks.tag", "%q: use lineage, selected or off", c.Hooks.Tag)
	}
	if !validHookTimeout(c.Hooks.Timeout) {
		return fail("hooks.timeout", "%q: use a duration such as 20s or 1m", c.Hooks.Timeout)
	}
	for _, s := range c.Hooks.Streamlines {
		if err := zfs.ValidateStreamline(s); err != nil {
			return fail("hooks.streamlines", "%v", err)
		}
	}
	return nil
}

func validPeerName(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return s != "" && s[0] != '-' && s[0] != '.'
}

// Resolved returns the peer with the defaults filled in: a key the peer leaves unset (nil
// or "") takes the [defaults] value, and sudo and schedule then fall back to false and
// DefaultSchedule.
func (p Peer) Resolved(d PeerDefaults) Peer {
	inherit(&p.Sudo, d.Sudo)
	inherit(&p.SSHOptions, d.SSHOptions)
	inherit(&p.Schedule, d.Schedule)
	inherit(&p.Streamlines, d.Streamlines)
	inherit(&p.Dest, d.Dest)
	inherit(&p.Direction, d.Direction)
	inherit(&p.SendOptions, d.SendOptions)
	inherit(&p.Compress, d.Compress)
	inherit(&p.BWLimit, d.BWLimit)
	inherit(&p.WarnBehind, d.WarnBehind)
	inherit(&p.CritBehind, d.CritBehind)
	inherit(&p.WarnAge, d.WarnAge)
	inherit(&p.CritAge, d.CritAge)
	inherit(&p.Mountable, d.Mountable)
	inherit(&p.Streams, d.Streams)
	inherit(&p.Sudo, new(bool))
	inherit(&p.Mountable, new(bool))
	inherit(&p.Schedule, DefaultSchedule)
	return p
}

// inherit sets *v to def when *v is unset: its zero value (nil for pointers and slices, ""
// for strings). An explicitly empty list (ssh_options = []) is set.
func inherit[T any](v *T, def T) {
	if reflect.ValueOf(v).Elem().IsZero() {
		*v = def
	}
}

// Transport returns the peer's compressor and bandwidth limit (both checked by Load).
func (p Peer) Transport() replicate.Transport {
	compress, _ := replicate.ParseCompress(p.Compress)
	limit, _ := replicate.ParseRate(p.BWLimit)
	return replicate.Transport{Compress: compress, RateLimit: limit}
}

// Peer returns the named peer with defaults filled in.
func (c *Config) Peer(name string) (Peer, bool) {
	for _, p := range c.Peers {
		if p.Name == name {
			return p.Resolved(c.Defaults), true
		}
	}
	return Peer{}, false
}

// HookMode returns the hooks' tag mode, "lineage" when unset.
func (c *Config) HookMode() string {
	if c.Hooks.Tag == "" {
		return "lineage"
	}
	return c.Hooks.Tag
}
