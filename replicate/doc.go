// Package replicate plans and executes the streams that bring a receiver's zfs-vm snapshots
// up to date with a sender's.
//
// Planning is a pure function of two inventories (see Plan); executing wires `zfs send` to
// `zfs receive` through an OS pipe (see Executor).
package replicate
