// Package zfs gives typed access to the zfs command on this machine or on a remote host over
// OpenSSH: parsing of names and listings, an inventory of datasets and snapshots with their
// lineage, and validated send/receive arguments.
//
// The package never decides what to replicate; that is the replicate package's job.
package zfs
