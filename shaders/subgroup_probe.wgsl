// Start-up probe of how the adapter forms subgroups: every invocation reports what it sees
// and where `placement` puts it, eight words each, for the host to check.

@group(0) @binding(3) var<storage, read_write> report: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn subgroup_probe(inv: Invocation) {
    let p = placement(inv);
    let first = subgroupBroadcastFirst(inv.local);
    let i = (flat_workgroup(inv.workgroup) * WORKGROUP_SIZE + inv.local) * 8u;
    report[i] = inv.local;
    report[i + 1u] = inv.subgroup_lane;
    report[i + 2u] = inv.subgroup_size;
    report[i + 3u] = p.count;
    report[i + 4u] = p.rank;
    report[i + 5u] = p.position;
    report[i + 6u] = first;
    report[i + 7u] = lane_of(p, p.rank);
}
