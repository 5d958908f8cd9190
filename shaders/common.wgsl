// Bindings and index arithmetic shared by every pass.
//
// The host prepends a generated prelude that defines `Elem` (the storage type), `IDENTITY`,
// `combine` (the accumulation: `+`, or `|` for bool), `WORKGROUP_SIZE`, `ELEMS_PER_THREAD`,
// `elem_bits`/`elem_from_bits` and the `Params` struct, so host and shader share one source of
// those constants. Each pass declares binding 2 itself: values for most, atomic words for the
// chained scan.
//
// Every pass sees its data as a row-major matrix of `params.rows x params.cols` items starting
// at `items[params.offset]`, scanned down each column. A lane (an independent scan) starts at
// every base-level row `first_head + k * lane_len`; at level k of the recursive scan an item
// stands for `span` consecutive base-level rows.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> items: array<Elem>;

// The first base-level row at or after `row` that starts a lane (`base_rows` or more: none).
fn next_head(row: u32) -> u32 {
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
    if params.lane_len >= params.span {
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
// `tile_cols` apart, so neighbouring invocations read neighbouring addresses of a row.
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

fn tile_thread(tile: u32, local: u32) -> TileThread {
    var t: TileThread;
    t.threads_per_col = WORKGROUP_SIZE / params.tile_cols;
    t.tile_rows = t.threads_per_col * ELEMS_PER_THREAD;
    t.tile_row = tile / params.tiles_x;
    t.tile_col = local % params.tile_cols;
    t.col = (tile % params.tiles_x) * params.tile_cols + t.tile_col;
    t.thread_row = local / params.tile_cols;
    t.first_row = t.tile_row * t.tile_rows + t.thread_row * ELEMS_PER_THREAD;
    return t;
}

// Dispatches are folded into a 2-D grid; this is the workgroup's place in the flat order.
fn flat_workgroup(id: vec3<u32>) -> u32 {
    return id.y * params.dispatch_x + id.x;
}

fn item_index(row: u32, col: u32) -> u32 {
    return params.offset + row * params.cols + col;
}
