// Pass 2 of each level, run top-down once the level above is scanned: every tile but the
// first adds the scanned total of the tile before it to its rows (in `dst`, where this level
// was scanned), up to the first row where a lane starts. Each workgroup touches its own tile.

@group(0) @binding(3) var<storage, read_write> aux: array<Elem>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn add_offsets(inv: Invocation) {
    let tile = flat_workgroup(inv.workgroup);
    if tile >= params.workgroups {
        return;
    }
    let t = tile_thread(tile, inv.local);
    if t.tile_row == 0u || t.col >= params.cols {
        return;
    }
    let carry = aux[params.aux_offset + (t.tile_row - 1u) * params.cols + t.col];
    let head = next_head(first_base_row(t.tile_row * t.tile_rows));
    for (var j = 0u; j < ELEMS_PER_THREAD; j++) {
        let row = t.first_row + j;
        if row < params.rows && last_base_row(row) < head {
            let i = item_index(row, t.col);
            dst[i] = combine(carry, dst[i]);
        }
    }
}
