// Scan-then-propagate, pass 1 of each level: a segmented inclusive scan of every tile, in
// place, plus each tile's total per column for the level above (`add_offsets` later adds the
// scanned totals back).

@group(0) @binding(2) var<storage, read_write> aux: array<Elem>;

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
    var values: array<Elem, ELEMS_PER_THREAD>;
    let rows = scan_thread_rows(t, &values);
    let s = tile_scan(t, local, rows.total, rows.flag);
    if holds_total(t) {
        aux[params.aux_offset + t.tile_row * params.cols + t.col] = s.total;
    }
    store_thread_rows(t, &values, rows.heads, thread_prefix(IDENTITY, s));
}
