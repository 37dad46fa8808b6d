package zfs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/zfs-vm/zfs-vm/internal/untrusted"
)

// DefaultConnectTimeout, DefaultServerAliveInterval and DefaultServerAliveCountMax bound how
// long ssh waits for a peer that does not answer: at most 30 s to connect (TCP and the ssh
// banner), and a peer that answers no keepalive for 4 × 15 s is given up. Without them a peer
// that froze mid-stream holds the run, its lock and its timer forever.
const (
	DefaultConnectTimeout      = "30"
	DefaultServerAliveInterval = "15"
	DefaultServerAliveCountMax = "4"
)

// sshProbeTimeout bounds `ssh -G`, which only reads configuration files.
const sshProbeTimeout = 10 * time.Second

// timeoutArgs returns the -o options that give ssh zfs-vm's default timeouts, leaving out each
// one that the user already chose, in extra (the config's ssh_options) or in their own
// ssh_config. OpenSSH keeps the first value it sees of an option, command line before files,
// so these defaults must come after extra on the command line, and must be left out where
// ssh_config sets them (a -o of ours would otherwise beat the user's file).
func timeoutArgs(ctx context.Context, known *SSHConfig, extra []string, port, target string) []string {
	set := effectiveOptions(ctx, known, extra, port, target)
	var a []string
	if v, ok := set["connecttimeout"]; !ok || v == "none" {
		a = append(a, "-o", "ConnectTimeout="+DefaultConnectTimeout)
	}
	// The keepalive pair goes together: a user's own interval keeps their count too.
	if v, ok := set["serveraliveinterval"]; !ok || v == "0" {
		a = append(a, "-o", "ServerAliveInterval="+DefaultServerAliveInterval)
		if v, ok := set["serveralivecountmax"]; !ok || v == "3" {
			a = append(a, "-o", "ServerAliveCountMax="+DefaultServerAliveCountMax)
		}
	}
	return a
}

// effectiveOptions asks ssh what it would use for target (`ssh -G`, which reads the
// configuration files and the command line and connects nowhere), unless known already says:
// lower-case option names to values. When ssh cannot say (an old OpenSSH), it is what extra
// sets.
func effectiveOptions(ctx context.Context, known *SSHConfig, extra []string, port, target string) map[string]string {
	var set map[string]string
	var err error
	if known != nil {
		set = known.set
	} else {
		set, err = sshConfig(ctx, extra, port, target)
	}
	if _, ok := set["serveraliveinterval"]; err != nil || !ok {
		return optionsGiven(extra)
	}
	return set
}

// sshConfig runs `ssh -G` for target with the options every ssh run to it gets (extra, the
// config's ssh_options, then -p port), each its own word: lower-case option names to values.
func sshConfig(ctx context.Context, extra []string, port, target string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, sshProbeTimeout)
	defer cancel()
	args := append([]string{"-G"}, extra...)
	if port != "" {
		args = append(args, "-p", port)
	}
	cmd := exec.CommandContext(ctx, "ssh", append(args, target)...)
	stderr := &untrusted.Buffer{Max: maxMessageLine}
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		// What ssh said (a bad line in ssh_config, an unknown option) is the useful part;
		// the first line of it, short and escaped, as for any command's error.
		return nil, fmt.Errorf("ssh -G %s: %s", target, FirstLine(stderr.String(), err))
	}
	set := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok {
			set[k] = v
		}
	}
	return set, nil
}

// SSHConfig is what `ssh -G` said it would use for one host spec and options. Read once, it
// serves both the peer's lock (Resolve) and Dial (DialOptions.Config): under a slow CPU each
// ssh run costs a noticeable share of a run that has nothing to send.
type SSHConfig struct {
	target string
	set    map[string]string
}

// ReadSSHConfig asks `ssh -G` what it would use for spec ([user@]host[:port]) with the
// options extra; it connects nowhere.
func ReadSSHConfig(ctx context.Context, spec string, extra []string) (*SSHConfig, error) {
	target, p, err := ParseHostSpec(spec)
	if err != nil {
		return nil, err
	}
	set, err := sshConfig(ctx, extra, p, target)
	if err != nil {
		return nil, err
	}
	return &SSHConfig{target: target, set: set}, nil
}

// Resolve returns the host name and port that ssh connects to, as `ssh -G` said with the
// options given (the config's ssh_options): ~/.ssh/config applied (a Host alias's HostName
// and Port). Two spellings of one machine resolve alike. The user is left out.
func (c *SSHConfig) Resolve() (host, port string, err error) {
	host, port = c.set["hostname"], c.set["port"]
	if host == "" || port == "" {
		return "", "", fmt.Errorf("ssh -G %s: no hostname and port in its output", c.target)
	}
	return host, port, nil
}

// optionsGiven reads the -o options of an ssh command line ("-o Key=value", "-oKey=value",
// "-o Key value") into lower-case names and values.
func optionsGiven(args []string) map[string]string {
	set := map[string]string{}
	for i := 0; i < len(args); i++ {
		var opt string
		switch {
		case args[i] == "-o" && i+1 < len(args):
			i++
			opt = args[i]
		case strings.HasPrefix(args[i], "-o"):
			opt = args[i][2:]
		default:
			continue
		}
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			k, v, _ = strings.Cut(strings.TrimSpace(opt), " ")
		}
		set[strings.ToLower(strings.TrimSpace(k))] = strings.ToLower(strings.TrimSpace(v))
	}
	return set
}
