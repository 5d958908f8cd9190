// The multi-pass tile scans, one entry point each, sharing `scan_tile`:
// - `scan_tiles` (scan-then-propagate, every level): a segmented inclusive scan of every tile
//   into `dst`, plus each tile's total per column for the level above (`add_offsets` later
//   adds the scanned totals back);
// - `reduce_tiles` (reduce-then-scan, first pass): only the totals; the items are only read;
// - `scan_seeded` (reduce-then-scan, last pass): every tile scanned again into `dst`, its rows
//   before the first lane start continuing the scanned total of the tile above (from `aux`).
// Each workgroup reads and writes its own tile only.

@group(0) @binding(3) var<storage, read_write> aux: array<Elem>;

struct ScannedTile {
    t: TileThread,
    rows: ThreadRows,
    scan: TileScan,
}

// Scans this invocation's rows of `tile` into `values`, then the tile across the workgroup
// (every invocation must call it: it has barriers); with `write_totals` the tile's column
// totals go to `aux` when the level has tile rows above which to scan them.
fn scan_tile(tile: u32, place: Placement, values: ptr<function, array<Elem, ELEMS_PER_THREAD>>, write_totals: bool) -> ScannedTile {
    var s: ScannedTile;
    s.t = tile_thread(tile, place.position);
    s.rows = scan_thread_rows(s.t, values);
    s.scan = tile_scan(s.t, place, s.rows.total, s.rows.flag);
    if write_totals && holds_total(s.t) && params.rows > s.t.tile_rows {
        aux[params.aux_offset + s.t.tile_row * params.cols + s.t.col] = s.scan.total;
    }
    return s;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn scan_tiles(inv: Invocation) {
    let tile = flat_workgroup(inv.workgroup);
    if tile >= params.workgroups {
        return;
    }
    var values: array<Elem, ELEMS_PER_THREAD>;
    let s = scan_tile(tile, placement(inv), &values, true);
    store_thread_rows(s.t, &values, s.rows.heads, thread_prefix(identity(), s.scan));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn reduce_tiles(inv: Invocation) {
    let tile = flat_workgroup(inv.workgroup);
    if tile >= params.workgroups {
        return;
    }
    var values: array<Elem, ELEMS_PER_THREAD>;
    _ = scan_tile(tile, placement(inv), &values, true);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn scan_seeded(inv: Invocation) {
    let tile = flat_workgroup(inv.workgroup);
    if tile >= params.workgroups {
        return;
    }
    var values: array<Elem, ELEMS_PER_THREAD>;
    let s = scan_tile(tile, placement(inv), &values, false);
    var tile_prefix = identity();
    if s.t.tile_row > 0u && s.t.col < params.cols {
        tile_prefix = aux[params.aux_offset + (s.t.tile_row - 1u) * params.cols + s.t.col];
    }
    store_thread_rows(s.t, &values, s.rows.heads, thread_prefix(tile_prefix, s.scan));
}
