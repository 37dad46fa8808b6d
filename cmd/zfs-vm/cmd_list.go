package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/zfs-vm/zfs-vm/zfs"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "list the zfs-vm versions on this host or on [user@]host",
		ArgsUsage: "[[user@]host]",
		Description: "One line per version: streamline, version, dataset, space, holds and creation\n" +
			"time. FROM shows the version each one descends from, and (clone) where it lives in a\n" +
			"clone of that version's dataset; a version made with tag -r is shown once, with its\n" +
			"members. Without a host (or with local) this machine is listed. Snapshots not named\n" +
			"zfs-vm:... are ignored.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "output format: text or json"},
			runtimeDirFlag(),
		},
		Action: runList,
	}
}

// listedVersion is one row of `list`, and its JSON form.
type listedVersion struct {
	Streamline string `json:"streamline"`
	Version    uint64 `json:"version"`
	Dataset    string `json:"dataset"`
	Snapshot   string `json:"snapshot"`
	GUID       string `json:"guid"`
	Created    string `json:"created"`
	Used       uint64 `json:"used"`
	Referenced uint64 `json:"referenced"`
	Holds      uint64 `json:"holds"`
	// Parent is the version this one descends from ("" for a lineage's first), and Clone
	// whether it lives in another dataset (this version's dataset is a clone of it).
	Parent string `json:"parent,omitempty"`
	Clone  bool   `json:"clone,omitempty"`
	// Members are the descendant datasets of a recursive version (zfs snapshot -r), which
	// is listed once.
	Members []string `json:"members,omitempty"`
}

func listVersions(inv *zfs.Inventory) []listedVersion {
	var out []listedVersion
	// A version's members carry its name in the datasets below it: zfs snapshot -r made them
	// (tag refuses a version that exists elsewhere), or a receive of such members.
	roots := map[zfs.Tag][]int{} // rows that may have members
	for _, s := range inv.Tagged() {
		k := s.Tag
		member := false
		for _, i := range roots[k] {
			if strings.HasPrefix(s.Dataset.Name, out[i].Dataset+"/") {
				out[i].Members = append(out[i].Members, s.Dataset.Name)
				out[i].Used += s.Used
				member = true
				break
			}
		}
		if member {
			continue
		}
		roots[k] = append(roots[k], len(out))
		v := listedVersion{
			Streamline: s.Tag.Streamline, Version: s.Tag.Version,
			Dataset: s.Dataset.Name, Snapshot: s.FullName(), GUID: fmt.Sprint(s.GUID),
			Created: time.Unix(s.Creation, 0).UTC().Format(time.RFC3339),
			Used:    s.Used, Referenced: s.Referenced, Holds: s.UserRefs,
		}
		if p := s.Parent(); p != nil {
			if a := p.NearestTagged(); a != nil {
				v.Parent = a.Tag.String()
				v.Clone = a.Dataset != s.Dataset
			}
		}
		out = append(out, v)
	}
	for i := range out {
		sort.Strings(out[i].Members)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Streamline != out[j].Streamline {
			return out[i].Streamline < out[j].Streamline
		}
		return out[i].Version < out[j].Version
	})
	return out
}

func runList(c *cli.Context) error {
	format := c.String("output")
	if format != "text" && format != "json" {
		return usageError("list: -o %q: use text or json", format)
	}
	spec, err := hostArg(c, false)
	if err != nil {
		return err
	}
	host, err := openHost(c, spec, nil)
	if err != nil {
		return err
	}
	defer host.Close()
	key := thisHostHintsKey
	if !host.IsLocal() {
		key = peerHintsKey(spec, sudoOn(c), nil)
	}
	inv, err := readWithHints(c, host, key)
	if err != nil {
		return err
	}
	rows := listVersions(inv)
	if format == "json" {
		if rows == nil {
			rows = []listedVersion{}
		}
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAMLINE\tVERSION\tDATASET\tFROM\tUSED\tREFER\tHOLDS\tCREATED")
	for _, r := range rows {
		from := "-"
		if r.Parent != "" {
			from = r.Parent
			if r.Clone {
				from += " (clone)"
			}
		}
		created, _ := time.Parse(time.RFC3339, r.Created)
		dataset := r.Dataset
		if len(r.Members) > 0 {
			dataset = fmt.Sprintf("%s (+%d: %s)", r.Dataset, len(r.Members), strings.Join(relative(r.Dataset, r.Members), ","))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Streamline, r.Version, dataset, from,
			humanBytes(r.Used), humanBytes(r.Referenced), r.Holds, created.Local().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

// relative names members below root ("tmpl/data" -> "data").
func relative(root string, members []string) []string {
	out := make([]string, len(members))
	for i, m := range members {
		out[i] = strings.TrimPrefix(m, root+"/")
	}
	return out
}

// humanBytes formats a size with binary units and no space ("600B", "1.5GiB"), to fit
// table columns.
func humanBytes(n uint64) string {
	return strings.ReplaceAll(humanize.IBytes(n), " ", "")
}
