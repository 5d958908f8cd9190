// The workgroup scan with subgroup shuffles: each subgroup scans its invocations in registers
// (a Hillis-Steele scan, no barriers), then every invocation adds the totals of the subgroups
// before it, read from workgroup memory in order. Two barriers in all, against 2 log2(n) for
// the tree. The subgroup size is read at run time (8 on lavapipe, 32 on NVIDIA, 32 or 64 on
// AMD), and invocations are assumed to fill subgroups in local-index order, as every Vulkan,
// Metal and D3D12 driver does for one-dimensional workgroups.

var<workgroup> group_value: array<Elem, WORKGROUP_SIZE>;
var<workgroup> group_flag: array<u32, WORKGROUP_SIZE>;

// Must be called in uniform control flow, by every invocation of the workgroup.
fn tile_scan(t: TileThread, local: u32, value: Elem, flag: u32) -> TileScan {
    let size = subgroupAdd(1u);
    let lane = local % size;
    let c = params.tile_cols;

    // Invocations of one column sit `c` lanes apart; scan them (segmented) within the subgroup.
    var v = value;
    var f = flag;
    for (var d = c; d < size; d *= 2u) {
        let earlier = shuffle_up(v, d);
        let earlier_flag = subgroupShuffleUp(f, d);
        if lane >= d {
            v = seg_combine(earlier, v, f);
            f |= earlier_flag;
        }
    }
    let above = shuffle_up(v, c);
    let above_flag = subgroupShuffleUp(f, c);

    // A group: the rows of one column that one subgroup holds (one row when a subgroup is
    // narrower than a tile row).
    let rows_per_group = max(size / c, 1u);
    let group = t.thread_row / rows_per_group;
    if (t.thread_row + 1u) % rows_per_group == 0u {
        group_value[group * c + t.tile_col] = v;
        group_flag[group * c + t.tile_col] = f;
    }
    workgroupBarrier();
    var before = IDENTITY;
    var before_flag = 0u;
    for (var g = 0u; g < group; g++) {
        let gf = group_flag[g * c + t.tile_col];
        before = seg_combine(before, group_value[g * c + t.tile_col], gf);
        before_flag |= gf;
    }
    var r: TileScan;
    r.exclusive = before;
    r.exclusive_flag = before_flag;
    if t.thread_row % rows_per_group != 0u {
        r.exclusive = seg_combine(before, above, above_flag);
        r.exclusive_flag = before_flag | above_flag;
    }
    r.total = seg_combine(before, v, f);
    r.total_flag = before_flag | f;
    // The slots are reused by the next call (the chained scan's fallback).
    workgroupBarrier();
    return r;
}
