// Reduce-then-scan, pass 1: every tile's total per column, for the level above; the items are
// only read. `scan_seeded` later scans the tiles again, seeded with the scanned totals.

@group(0) @binding(2) var<storage, read_write> aux: array<Elem>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn reduce_tiles(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let tile = flat_workgroup(workgroup);
    if tile >= params.workgroups {
        return;
    }
    let t = tile_thread(tile, local);
    var values: array<Elem, ELEMS_PER_THREAD>;
    let rows = scan_thread_rows(t, &values);
    let s = tile_scan(t, local, rows.total, rows.flag);
    if holds_total(t) {
        aux[params.aux_offset + t.tile_row * params.cols + t.col] = s.total;
    }
}
