package replicate

import (
	"testing"

	"github.com/zfs-vm/zfs-vm/zfs"
	"github.com/zfs-vm/zfs-vm/zfs/zfstest"
)

// inventory builds the inventories of the planner's tests: from the full listing, or, in
// TestPlansFromVersionListings, read as zfs.Host.ListVersions reads a host.
var inventory func(t testing.TB, rows ...string) *zfs.Inventory = zfstest.Inventory

// TestPlansFromVersionListings reruns the planner's tests on inventories read as push,
// pull and sync read them (datasets, snapshot names, then the snapshots of zfs-vm's datasets
// and their origin chains only): every plan, refusal, rollback, notice and resume must come
// out as from the full listing.
func TestPlansFromVersionListings(t *testing.T) {
	inventory = zfstest.Versions
	defer func() { inventory = zfstest.Inventory }()
	t.Run("streams", TestPlanStreams)
	t.Run("refusals", TestPlanRefusals)
	t.Run("validate", TestPlanStreamsValidate)
	t.Run("rollback", TestPlanRollback)
	t.Run("recursive", TestPlanRecursiveImage)
	t.Run("notices", TestPlanNoticesGoneMember)
	t.Run("resumes", TestFindResumes)
}
