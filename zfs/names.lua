-- zfs-vm's names program (see program.go): run read-only (zfs program -n) on one pool, it
-- walks every filesystem and volume of the pool given as its argument and returns how many
-- snapshots they have and, one a line, the full names of those that are zfs-vm's. It walks
-- in the kernel what `zfs list -t snapshot -o name` walks with an ioctl a snapshot.
local pool = (...)["argv"][1]
local count = 0
local names = {}
local function walk(ds)
  for snap in zfs.list.snapshots(ds) do
    count = count + 1
    if string.find(snap, "@zfs-vm:", 1, true) then
      names[#names + 1] = snap
    end
  end
  for child in zfs.list.children(ds) do
    walk(child)
  end
end
walk(pool)
return {count = count, names = table.concat(names, "\n")}
