package config

import (
	"fmt"
	"strings"
)

// sshArgFlags are OpenSSH's client options that take an argument (ssh(1), OpenSSH 9.x).
const sshArgFlags = "BbcDEeFIiJLlmOopQRSWw"

// checkSSHOptions checks that ssh_options is a list of ssh options, each option that takes
// an argument followed by it ("-o", "Key=value") or joined to it ("-oKey=value"). Any other
// word would be taken by ssh as the host name ("ConnectTimeout=10" alone connects to a host of
// that name and runs the real host name as a command) and is refused.
func checkSSHOptions(opts []string) error {
	for i := 0; i < len(opts); i++ {
		o := opts[i]
		if len(o) < 2 || o[0] != '-' || o == "--" {
			if strings.Contains(o, "=") {
				return fmt.Errorf("%q would be taken by ssh as the host name; write \"-o\", %q", o, o)
			}
			return fmt.Errorf("%q is not an ssh option (ssh would take it as the host name)", o)
		}
		// Flags without an argument may be bundled (-4C); the first one that takes an
		// argument takes the rest of the word, or else the next word.
		for j := 1; j < len(o); j++ {
			if !strings.ContainsRune(sshArgFlags, rune(o[j])) {
				continue
			}
			if j == len(o)-1 {
				if i+1 == len(opts) {
					return fmt.Errorf("%q needs an argument after it", o)
				}
				i++
			}
			break
		}
	}
	return nil
}
