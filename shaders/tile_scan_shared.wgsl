// The workgroup scan in workgroup memory (a Blelloch tree), for adapters without subgroup
// operations and for the Blelloch strategy: an up-sweep builds each subtree's pair, a
// down-sweep hands every invocation the exclusive prefix of its column in the tile.

// An invocation's place in the tile: here simply its local index.
struct Placement {
    position: u32,
}

fn placement(inv: Invocation) -> Placement {
    return Placement(inv.local);
}

var<workgroup> partial_value: array<Elem, WORKGROUP_SIZE>;
var<workgroup> partial_flag: array<u32, WORKGROUP_SIZE>;

// Must be called in uniform control flow, by every invocation of the workgroup.
fn tile_scan(t: TileThread, place: Placement, value: Elem, flag: u32) -> TileScan {
    var r: TileScan;
    let local = place.position;
    partial_value[local] = value;
    partial_flag[local] = flag;

    // Up-sweep: slot r accumulates the pair of its subtree.
    let n = t.threads_per_col;
    let stride = params.tile_cols;
    for (var d = 1u; d < n; d *= 2u) {
        workgroupBarrier();
        if (t.thread_row + 1u) % (2u * d) == 0u {
            let left = local - d * stride;
            partial_value[local] = seg_combine(partial_value[left], partial_value[local], partial_flag[local]);
            partial_flag[local] |= partial_flag[left];
        }
    }
    workgroupBarrier();

    // The root holds the column's total.
    if t.thread_row == n - 1u {
        r.total = partial_value[local];
        r.total_flag = partial_flag[local];
        partial_value[local] = identity();
        partial_flag[local] = 0u;
    }

    // Down-sweep: every slot ends with the exclusive prefix of its invocation.
    for (var d = n / 2u; d > 0u; d /= 2u) {
        workgroupBarrier();
        if (t.thread_row + 1u) % (2u * d) == 0u {
            let left = local - d * stride;
            let left_value = partial_value[left];
            let left_flag = partial_flag[left];
            let prefix_value = partial_value[local];
            let prefix_flag = partial_flag[local];
            partial_value[left] = prefix_value;
            partial_flag[left] = prefix_flag;
            partial_value[local] = seg_combine(prefix_value, left_value, left_flag);
            partial_flag[local] = prefix_flag | left_flag;
        }
    }
    workgroupBarrier();
    r.exclusive = partial_value[local];
    r.exclusive_flag = partial_flag[local];
    // The slots are reused by the next call (the chained scan's fallback).
    workgroupBarrier();
    return r;
}
