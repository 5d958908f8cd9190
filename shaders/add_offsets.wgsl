// Pass 2 of each level, run top-down once the level above is scanned: every tile but the
// first adds the scanned total of the tile before it to its rows, up to the first row where a
// lane starts.

@group(0) @binding(2) var<storage, read_write> aux: array<Elem>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn add_offsets(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let tile = flat_workgroup(workgroup);
    if tile >= params.workgroups {
        return;
    }
    let t = tile_thread(tile, local);
    if t.tile_row == 0u || t.col >= params.cols {
        return;
    }
    let carry = aux[params.aux_offset + (t.tile_row - 1u) * params.cols + t.col];
    let head = next_head(first_base_row(t.tile_row * t.tile_rows));
    for (var j = 0u; j < ELEMS_PER_THREAD; j++) {
        let row = t.first_row + j;
        if row < params.rows && last_base_row(row) < head {
            let i = item_index(row, t.col);
            items[i] = combine(carry, items[i]);
        }
    }
}
