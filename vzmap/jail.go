package vzmap

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"unicode"

	"github.com/zfs-vm/zfs-vm/zfs"
)

// Jail finds FreeBSD jails: in /etc/jail.conf and /etc/jail.conf.d/*.conf, among running jails
// (`jls --libxo json jid name path`), and as iocage or bastille datasets
// (<pool>/iocage/jails/<name>/root, <pool>/bastille/jails/<name>/root).
type Jail struct {
	Root string
	// JLS returns the JSON of `jls --libxo json jid name path`; nil runs jls when present.
	JLS func() ([]byte, error)
}

// Name implements Manager.
func (*Jail) Name() string { return "jail" }

// Present implements Manager.
func (j *Jail) Present() bool {
	return runtime.GOOS == "freebsd" || exists(j.Root, "etc/jail.conf") || exists(j.Root, "etc/jail.conf.d")
}

// Where implements Manager.
func (j *Jail) Where() string {
	return "/etc/jail.conf, /etc/jail.conf.d, jls, iocage and bastille datasets"
}

// Lookup implements Manager.
func (j *Jail) Lookup(inv *zfs.Inventory, name string) (*Container, error) {
	if name == "" || strings.ContainsAny(name, "/ ") {
		return nil, nil
	}
	for _, file := range j.confFiles() {
		b, err := readFile(j.Root, file)
		if err != nil {
			return nil, err
		}
		if path, ok := jailConfPath(string(b), name); ok {
			return &Container{Manager: "jail", ID: name, Path: path, Config: "/" + file}, nil
		}
	}
	if path, ok := j.running(name); ok {
		return &Container{Manager: "jail", ID: name, Path: path, Config: "jls"}, nil
	}
	if inv != nil {
		short := strings.TrimPrefix(name, "ioc-") // iocage's kernel jail name
		for _, d := range inv.Datasets {
			for _, kind := range []string{"/iocage/jails/", "/bastille/jails/"} {
				if strings.HasSuffix(d.Name, kind+short+"/root") {
					return &Container{Manager: "jail", ID: short, Dataset: d.Name, Config: strings.Trim(kind, "/")}, nil
				}
			}
		}
	}
	return nil, nil
}

func (j *Jail) confFiles() []string {
	files := []string{"etc/jail.conf"}
	matches, _ := filepath.Glob(filepath.Join(j.Root, "etc/jail.conf.d/*.conf"))
	for _, m := range matches {
		rel, _ := filepath.Rel(j.Root, m)
		files = append(files, rel)
	}
	return files
}

// running asks jls for a running jail's path.
func (j *Jail) running(name string) (string, bool) {
	jls := j.JLS
	if jls == nil {
		if _, err := exec.LookPath("jls"); err != nil {
			return "", false
		}
		jls = func() ([]byte, error) { return exec.Command("jls", "--libxo", "json", "jid", "name", "path").Output() }
	}
	b, err := jls()
	if err != nil {
		return "", false
	}
	var out struct {
		Info struct {
			Jails []struct {
				Name string `json:"name"`
				Path string `json:"path"`
			} `json:"jail"`
		} `json:"jail-information"`
	}
	if json.Unmarshal(b, &out) != nil {
		return "", false
	}
	for _, jl := range out.Info.Jails {
		if jl.Name == name && strings.HasPrefix(jl.Path, "/") {
			return jl.Path, true
		}
	}
	return "", false
}

// jailConfPath evaluates the path parameter of jail name in a jail.conf: the jail's own
// block, else a "*" wildcard block, else a global setting, with $name and ${name} (and
// variables defined as $var = "...") substituted.
func jailConfPath(conf, name string) (string, bool) {
	stmts := parseJailConf(conf)
	vars := map[string]string{"name": name}
	var global, wildcard, own string
	var haveOwn bool
	for _, s := range stmts {
		switch {
		case s.block == "" && strings.HasPrefix(s.key, "$"):
			vars[strings.TrimPrefix(s.key, "$")] = s.value
		case s.block == "" && s.key == "path":
			global = s.value
		case s.block == "*" && s.key == "path":
			wildcard = s.value
		case s.block == name:
			haveOwn = true
			if strings.HasPrefix(s.key, "$") {
				vars[strings.TrimPrefix(s.key, "$")] = s.value
			}
			if s.key == "path" {
				own = s.value
			}
		}
	}
	if !haveOwn {
		return "", false
	}
	path := own
	if path == "" {
		path = wildcard
	}
	if path == "" {
		path = global
	}
	if path == "" {
		return "", false
	}
	return expandJailVars(path, vars), true
}

func expandJailVars(v string, vars map[string]string) string {
	return os.Expand(v, func(k string) string {
		if val, ok := vars[k]; ok {
			return val
		}
		return "$" + k
	})
}

type jailStmt struct{ block, key, value string }

// parseJailConf reads jail.conf(5) statements: `key = value;`, `key += value;`, a bare `key;`,
// and `name { ... }` blocks, with #, // and /* */ comments and quoted strings.
func parseJailConf(conf string) []jailStmt {
	toks := tokenizeJailConf(conf)
	var out []jailStmt
	block := ""
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t == "}":
			block = ""
		case i+1 < len(toks) && toks[i+1] == "{":
			block = unquote(t)
			i++
		case t == ";":
		default:
			key := t
			val := ""
			if i+1 < len(toks) && (toks[i+1] == "=" || toks[i+1] == "+=") {
				i += 2
				var parts []string
				for ; i < len(toks) && toks[i] != ";" && toks[i] != "}"; i++ {
					parts = append(parts, unquote(toks[i]))
				}
				if i < len(toks) && toks[i] == "}" {
					i--
				}
				val = strings.Join(parts, " ")
			}
			out = append(out, jailStmt{block: block, key: key, value: val})
		}
	}
	return out
}

func tokenizeJailConf(s string) []string {
	var toks []string
	r := []rune(s)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '#' || c == '/' && i+1 < len(r) && r[i+1] == '/':
			for i < len(r) && r[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(r) && r[i+1] == '*':
			i += 2
			for i+1 < len(r) && !(r[i] == '*' && r[i+1] == '/') {
				i++
			}
			i += 2
		case c == '{' || c == '}' || c == ';' || c == '=':
			toks = append(toks, string(c))
			i++
		case c == '+' && i+1 < len(r) && r[i+1] == '=':
			toks = append(toks, "+=")
			i += 2
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(r) && r[j] != c {
				if r[j] == '\\' {
					j++
				}
				j++
			}
			if j > len(r) {
				j = len(r) - 1
			}
			toks = append(toks, string(r[i:min(j+1, len(r))]))
			i = j + 1
		default:
			j := i
			for j < len(r) && !unicode.IsSpace(r[j]) && !strings.ContainsRune("{};=\"'", r[j]) && !(r[j] == '+' && j+1 < len(r) && r[j+1] == '=') {
				j++
			}
			toks = append(toks, string(r[i:j]))
			i = j
		}
	}
	return toks
}
