package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:        "version",
		Usage:       "print zfs-vm's version",
		Description: "Prints the version zfs-vm was built as (the package version, or git describe).",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "zfs-vm %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
