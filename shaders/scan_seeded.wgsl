// Reduce-then-scan, last pass: every tile is scanned again, its rows before the first lane
// start continuing the scanned total of the tile above (from `aux`).

@group(0) @binding(2) var<storage, read_write> aux: array<Elem>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn scan_seeded(
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
    var tile_prefix = IDENTITY;
    if t.tile_row > 0u && t.col < params.cols {
        tile_prefix = aux[params.aux_offset + (t.tile_row - 1u) * params.cols + t.col];
    }
    store_thread_rows(t, &values, rows.heads, thread_prefix(tile_prefix, s));
}
