// Bindings and index arithmetic shared by every pass.
//
// The host prepends a generated prelude that defines `Elem` (the storage type), the operation
// (`identity()`, `empty()`, `combine`, `load_value`), `WORKGROUP_SIZE`, `ELEMS_PER_THREAD`,
// `IN_PLACE`, `elem_bits`/`elem_from_bits`, the `Invocation` builtins and the `Params` struct,
// so host and shader share one source of those constants. Each pass declares binding 3
// itself: values for most, atomic words for the chained scan.
//
// Every pass sees its data as a row-major matrix of `params.rows x params.cols` items starting
// at element `params.offset` of its bindings, scanned down each column. A lane (an independent
// scan) starts at every base-level row `first_head + k * lane_len`; at level k of the recursive
// scan an item stands for `span` consecutive base-level rows.
//
// Passes read `src` (read-only) and write `dst`, so no workgroup ever reads a location that
// another workgroup of the same dispatch writes: workgroups meet only through atomics. A pass
// built `IN_PLACE` reads `dst` instead; the host runs those only where each workgroup touches
// its own tile alone (the upper levels of the multi-pass scans, and in-place requests).

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<Elem>;
@group(0) @binding(2) var<storage, read_write> dst: array<Elem>;
// The row above the chunk, which its first row continues (when `params.carry` is 1).
@group(0) @binding(4) var<storage, read> carry: array<Elem>;
// Diagnostics the host reads back: fallbacks taken, mismatched publications.
@group(0) @binding(5) var<storage, read_write> counters: array<atomic<u32>>;
// Where every lane restarts besides its start, in scan order: `[0, ..., seg_lane_len]`.
@group(0) @binding(6) var<storage, read> offsets: array<u32>;

const COUNT_FALLBACKS: u32 = 0u;
const COUNT_MISMATCHES: u32 = 1u;
const COUNT_SINK: u32 = 2u;

fn load_item(i: u32) -> Elem {
    if IN_PLACE {
        return load_value(dst[i]);
    }
    return load_value(src[i]);
}

// The first segment offset at or after lane position `p` (at most `seg_lane_len`).
fn segment_at_or_after(p: u32) -> u32 {
    var lo = 0u;
    var hi = params.segments - 1u;
    while lo < hi {
        let mid = (lo + hi) / 2u;
        if offsets[mid] < p {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return offsets[lo];
}

// The first base-level row at or after `row` that starts a lane or a segment (`base_rows` or
// more: none).
fn next_head(row: u32) -> u32 {
    if params.segments != 0u {
        // The position of `row` in its lane: rows before the chunk's first lane start continue
        // the lane of the row above the chunk.
        var p: u32;
        if row < params.first_head {
            p = params.lane_pos + row;
        } else {
            p = (row - params.first_head) % params.seg_lane_len;
        }
        let ahead = segment_at_or_after(p) - p;
        return row + min(ahead, 0xffffffffu - row);
    }
    if row <= params.first_head {
        return params.first_head;
    }
    let lanes = (row - params.first_head + params.lane_len - 1u) / params.lane_len;
    return params.first_head + lanes * params.lane_len;
}

fn first_base_row(item: u32) -> u32 {
    return item * params.span;
}

fn last_base_row(item: u32) -> u32 {
    return min(item * params.span + params.span, params.base_rows) - 1u;
}

// The first lane start after `item`, given `head`, a lane start inside it: one lane later,
// unless an item spans several lanes (upper levels of short lanes), which needs the division.
fn head_after(item: u32, head: u32) -> u32 {
    if params.lane_len >= params.span && params.segments == 0u {
        return head + params.lane_len;
    }
    return next_head(last_base_row(item) + 1u);
}

// The value of `earlier` followed by `later`, where `later_flag` says a lane starts in `later`.
fn seg_combine(earlier: Elem, later: Elem, later_flag: u32) -> Elem {
    if later_flag != 0u {
        return later;
    }
    return combine(earlier, later);
}

// Where one invocation sits in a tile of `tile_cols` columns: invocations of one column are
// `tile_cols` positions apart, so neighbouring positions read neighbouring addresses of a row.
struct TileThread {
    tile_row: u32,
    // Column in the matrix, and within the tile.
    col: u32,
    tile_col: u32,
    thread_row: u32,
    threads_per_col: u32,
    tile_rows: u32,
    first_row: u32,
}

// `position` is the invocation's place in the tile (see `placement`), 0 to WORKGROUP_SIZE - 1.
fn tile_thread(tile: u32, position: u32) -> TileThread {
    var t: TileThread;
    t.threads_per_col = WORKGROUP_SIZE / params.tile_cols;
    t.tile_rows = t.threads_per_col * ELEMS_PER_THREAD;
    t.tile_row = tile / params.tiles_x;
    t.tile_col = position % params.tile_cols;
    t.col = (tile % params.tiles_x) * params.tile_cols + t.tile_col;
    t.thread_row = position / params.tile_cols;
    t.first_row = t.tile_row * t.tile_rows + t.thread_row * ELEMS_PER_THREAD;
    return t;
}

// Dispatches are folded into a 2-D grid; this is the workgroup's place in the flat order.
fn flat_workgroup(id: vec3<u32>) -> u32 {
    return id.y * params.dispatch_x + id.x;
}

fn item_index(row: u32, col: u32) -> u32 {
    var r = row;
    if params.flip != 0u {
        r = params.rows - 1u - row;
    }
    return params.offset + r * params.cols + col;
}
