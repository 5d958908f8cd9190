// Before a chunk is scanned, its first row takes the final values of the row above it (from the
// previous chunk or batch), so the chunk's scan carries the running sum on.

@group(0) @binding(2) var<storage, read_write> aux: array<Elem>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn add_carry(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let col = flat_workgroup(workgroup) * WORKGROUP_SIZE + local;
    if col >= params.cols {
        return;
    }
    let i = params.offset + col;
    items[i] = combine(aux[params.aux_offset + col], items[i]);
}
