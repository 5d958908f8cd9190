// Pass 1 of each level: a segmented inclusive scan of every tile, in place, plus each tile's
// total per column for the level above.
//
// Each invocation first scans ELEMS_PER_THREAD rows of its column in registers; then a Blelloch
// up-sweep and down-sweep in workgroup memory turn the per-invocation totals into exclusive
// prefixes. Values are (value, lane-start flag) pairs: a later flag cuts off everything before it,
// which keeps lanes independent and makes the operator associative.

var<workgroup> partial_value: array<Elem, WORKGROUP_SIZE>;
var<workgroup> partial_flag: array<u32, WORKGROUP_SIZE>;

// The value of `earlier` followed by `later`, where `later_flag` says a lane starts in `later`.
fn seg_combine(earlier: Elem, later: Elem, later_flag: u32) -> Elem {
    if later_flag != 0u {
        return later;
    }
    return combine(earlier, later);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn scan_tiles(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let tile = flat_workgroup(workgroup);
    if tile >= params.workgroups {
        return;
    }
    let t = tile_thread(tile, local);
    let in_matrix = t.col < params.cols;

    // Sequential scan of this invocation's rows. `head` is the next lane start at or after
    // the current row, so the division in `next_head` runs once, not once per row.
    var values: array<Elem, ELEMS_PER_THREAD>;
    var heads = 0u;
    var acc = IDENTITY;
    var flag = 0u;
    var head = next_head(first_base_row(t.first_row));
    for (var j = 0u; j < ELEMS_PER_THREAD; j++) {
        let row = t.first_row + j;
        if in_matrix && row < params.rows {
            let x = items[item_index(row, t.col)];
            if head <= last_base_row(row) {
                heads |= 1u << j;
                flag = 1u;
                acc = x;
                head = head_after(row, head);
            } else {
                acc = combine(acc, x);
            }
        }
        values[j] = acc;
    }
    partial_value[local] = acc;
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

    // The root holds the tile's total for this column.
    if t.thread_row == n - 1u {
        if in_matrix {
            aux[params.aux_offset + t.tile_row * params.cols + t.col] = partial_value[local];
        }
        partial_value[local] = IDENTITY;
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

    // Rows before this invocation's first lane start continue the prefix.
    let prefix = partial_value[local];
    var cut = false;
    for (var j = 0u; j < ELEMS_PER_THREAD; j++) {
        let row = t.first_row + j;
        if in_matrix && row < params.rows {
            cut = cut || (heads & (1u << j)) != 0u;
            var v = values[j];
            if !cut {
                v = combine(prefix, v);
            }
            items[item_index(row, t.col)] = v;
        }
    }
}
