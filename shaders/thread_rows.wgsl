// The rows one invocation owns: ELEMS_PER_THREAD consecutive rows of one column, scanned
// sequentially in registers before the workgroup combines invocations.

// What `tile_scan` (tile_scan_shared.wgsl or tile_scan_subgroup.wgsl) gives an invocation: the
// exclusive prefix of its column within the tile and, in the tile's last row of invocations,
// the column's total.
struct TileScan {
    exclusive: Elem,
    exclusive_flag: u32,
    total: Elem,
    total_flag: u32,
}

// An invocation's rows folded into one segmented pair, and which of them start a lane.
struct ThreadRows {
    total: Elem,
    // 1 when a lane starts in these rows: the total then counts from the last such start.
    flag: u32,
    // Bit j: row j starts a lane.
    heads: u32,
}

// The inclusive value of the row above the chunk in column `col`. An exclusive scan stored
// the values before that row, so its input is carried too and combined in.
fn carried(col: u32) -> Elem {
    let above = carry[params.carry_offset + col];
    if params.exclusive != 0u {
        return combine(above, load_value(carry[params.carry_input_offset + col]));
    }
    return above;
}

// Scans this invocation's rows into `values` (inclusive, cut at lane starts). Every strategy
// folds rows in this one order, so a tile's total is the same bits wherever it is computed.
// The chunk's first row continues the carried row above it, if any.
fn scan_thread_rows(t: TileThread, values: ptr<function, array<Elem, ELEMS_PER_THREAD>>) -> ThreadRows {
    var r: ThreadRows;
    r.total = identity();
    r.flag = 0u;
    r.heads = 0u;
    let in_matrix = t.col < params.cols;
    // `head` is the next lane start at or after the current row, so the division in
    // `next_head` runs once, not once per row.
    var head = next_head(first_base_row(t.first_row));
    // Only the invocation holding the chunk's first row continues the carry, at its row 0.
    let carries = params.carry != 0u && t.first_row == 0u;
    for (var j = 0u; j < ELEMS_PER_THREAD; j++) {
        let row = t.first_row + j;
        if in_matrix && row < params.rows {
            var x = load_item(item_index(row, t.col));
            if head <= last_base_row(row) {
                r.heads |= 1u << j;
                r.flag = 1u;
                r.total = x;
                head = head_after(row, head);
            } else {
                if j == 0u && carries {
                    x = combine(carried(t.col), x);
                }
                r.total = combine(r.total, x);
            }
        }
        (*values)[j] = r.total;
    }
    return r;
}

// Writes this invocation's rows to `dst`, continuing `prefix` (everything before its first row
// in the lane) up to its first lane start. An exclusive scan writes each row the inclusive
// value of the row before it instead (`prefix` for the first, or the carried row when the
// chunk continues one), and `empty()` where a lane or segment starts.
fn store_thread_rows(t: TileThread, values: ptr<function, array<Elem, ELEMS_PER_THREAD>>, heads: u32, prefix: Elem) {
    if t.col >= params.cols {
        return;
    }
    var cut = false;
    var before = prefix;
    if params.exclusive != 0u && params.carry != 0u && t.first_row == 0u {
        before = carried(t.col);
    }
    for (var j = 0u; j < ELEMS_PER_THREAD; j++) {
        let row = t.first_row + j;
        if row < params.rows {
            let starts = (heads & (1u << j)) != 0u;
            cut = cut || starts;
            var v = (*values)[j];
            if !cut {
                v = combine(prefix, v);
            }
            if params.exclusive == 0u {
                dst[item_index(row, t.col)] = v;
            } else if starts {
                dst[item_index(row, t.col)] = empty();
            } else {
                dst[item_index(row, t.col)] = before;
            }
            before = v;
        }
    }
}

// The prefix an invocation's rows continue: the tile's prefix, then the invocations above it
// in the tile, unless a lane starts between them.
fn thread_prefix(tile_prefix: Elem, s: TileScan) -> Elem {
    if s.exclusive_flag != 0u {
        return s.exclusive;
    }
    return combine(tile_prefix, s.exclusive);
}

// Whether this invocation holds a column total of its tile (the tile's last row).
fn holds_total(t: TileThread) -> bool {
    return t.thread_row == t.threads_per_col - 1u && t.col < params.cols;
}
