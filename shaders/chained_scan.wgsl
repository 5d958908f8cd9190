// Single-pass chained scan with decoupled look-back and decoupled fallback: every element is
// read once and written once.
//
// Tiles take their index from an atomic counter in the order they start, so a tile's
// predecessors have started before it. A tile publishes its total per column (its aggregate),
// then looks back over the tiles above it until one has published its inclusive prefix; its
// own inclusive prefix follows. Nothing assumes that a waiting tile's predecessor makes
// progress: after SPIN_LIMIT polls the waiting workgroup reduces the predecessor's tile itself
// (the fallback) and publishes that aggregate for it, so the scan cannot hang on adapters
// without forward-progress guarantees.
//
// Determinism: a tile's inclusive prefix is always the left fold `inclusive(r - 1) +
// aggregate(r)`. The look-back only finds where the fold can start (the nearest published
// inclusive prefix, or an aggregate that begins a lane); the fold then runs forward over the
// aggregates in order. Aggregates are the same bits whoever computes them, so every run gives
// the same result, however tiles were scheduled.
//
// Accuracy: float prefixes carried from tile to tile are compensated sums (a value and its
// rounding error, from Knuth's two-sum), so the long chain of tile additions adds about one
// rounding in all instead of one per tile.
//
// Published values never race torn: a value is split into 16-bit pieces, each stored in its own
// atomic word with READY set, and a value is ready when all of its words are. Aggregate and
// inclusive values have separate slots, so every word goes from zero to its final value once.
//
// `state[0]` is the tile counter; tile row r, column c keeps its aggregate at
// `1 + (r * cols + c) * 3 * WORDS` and its inclusive prefix (value, then compensation) in the
// 2 * WORDS words after it. The host clears the state before each dispatch.

@group(0) @binding(2) var<storage, read_write> state: array<atomic<u32>>;

const READY: u32 = 0x80000000u;
const LANE_START: u32 = 0x40000000u;
const AGGREGATE: u32 = 0u;
const INCLUSIVE: u32 = 1u;
const SLOT_WORDS: u32 = 3u * WORDS;

var<workgroup> tile_index: u32;
// One more than the latest tile row some column waited for in vain (0: none).
var<workgroup> stuck_row: atomic<u32>;
var<workgroup> decision: u32;
var<workgroup> column_prefix: array<Elem, WORKGROUP_SIZE>;

fn slot(tile_row: u32, col: u32, kind: u32) -> u32 {
    return 1u + (tile_row * params.cols + col) * SLOT_WORDS + kind * WORDS;
}

// A running prefix and, for floats, the rounding error it has dropped.
struct Carry {
    value: Elem,
    error: Elem,
}

fn carry_of(value: Elem) -> Carry {
    return Carry(value, IDENTITY);
}

// `x` itself, through arithmetic the shader compiler cannot see through. Compilers may
// rewrite `(a + b) - a` as `b` (WGSL cannot mark arithmetic exact), which would erase the
// compensation.
fn opaque(x: Elem) -> Elem {
    let b = elem_bits(x);
    return elem_from_bits(vec2<u32>(b.x ^ params.zero, b.y));
}

fn carry_add(c: Carry, x: Elem) -> Carry {
    var r = Carry(combine(c.value, x), c.error);
    if COMPENSATED {
        r.value = opaque(r.value);
        // Knuth's two-sum: the exact rounding error of the addition, whichever operand is larger.
        let back = r.value - c.value;
        r.error = c.error + ((c.value - (r.value - back)) + (x - back));
        // Past overflow (or at NaN) the value stands alone: inf - inf would make the error NaN.
        if !(abs(r.value) <= MAX_FINITE) {
            r.error = IDENTITY;
        }
    }
    return r;
}

fn carry_total(c: Carry) -> Elem {
    // A zero error is skipped: -0.0 + 0.0 would lose the sign of a sum of negative zeros.
    if COMPENSATED && c.error != IDENTITY {
        return c.value + c.error;
    }
    return c.value;
}

fn publish(at: u32, value: Elem, flag: u32) {
    let bits = elem_bits(value);
    let tag = READY | select(0u, LANE_START, flag != 0u);
    for (var w = 0u; w < WORDS; w++) {
        let piece = (bits[w / 2u] >> (16u * (w % 2u))) & 0xffffu;
        atomicStore(&state[at + w], tag | piece);
    }
}

struct Published {
    ready: bool,
    value: Elem,
}

fn read_published(at: u32) -> Published {
    var p: Published;
    var bits = vec2<u32>(0u, 0u);
    p.ready = true;
    for (var w = 0u; w < WORDS; w++) {
        let word = atomicLoad(&state[at + w]);
        p.ready = p.ready && (word & READY) != 0u;
        bits[w / 2u] |= (word & 0xffffu) << (16u * (w % 2u));
    }
    p.value = elem_from_bits(bits);
    return p;
}

fn publish_inclusive(tile_row: u32, col: u32, c: Carry, flag: u32) {
    let at = slot(tile_row, col, INCLUSIVE);
    publish(at, c.value, flag);
    publish(at + WORDS, c.error, flag);
}

struct PublishedCarry {
    ready: bool,
    carry: Carry,
}

fn read_inclusive(tile_row: u32, col: u32) -> PublishedCarry {
    let at = slot(tile_row, col, INCLUSIVE);
    let value = read_published(at);
    let error = read_published(at + WORDS);
    return PublishedCarry(value.ready && error.ready, Carry(value.value, error.value));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn chained_scan(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    if flat_workgroup(workgroup) >= params.workgroups {
        return;
    }
    if local == 0u {
        tile_index = atomicAdd(&state[0], 1u);
    }
    let tile = workgroupUniformLoad(&tile_index);
    let t = tile_thread(tile, local);
    var values: array<Elem, ELEMS_PER_THREAD>;
    let rows = scan_thread_rows(t, &values);
    let s = tile_scan(t, local, rows.total, rows.flag);

    // The invocations of the tile's last row hold the column totals and do the look-back.
    let leader = holds_total(t);
    // A tile that starts a lane in a column, or the first tile, knows its inclusive prefix.
    let known = t.tile_row == 0u || s.total_flag != 0u;
    if leader {
        if known {
            publish_inclusive(t.tile_row, t.col, carry_of(s.total), s.total_flag);
        } else {
            publish(slot(t.tile_row, t.col, AGGREGATE), s.total, 0u);
        }
    }

    // Look back: each leader walks up its column without barriers while predecessors have
    // published. Only when some column waited SPIN_LIMIT polls in vain does the workgroup meet,
    // and then it reduces the latest such tile for all columns together (the fallback).
    var looking = leader && t.tile_row > 0u;
    var row = t.tile_row;
    var start = carry_of(IDENTITY);
    var start_row = 0u;
    loop {
        var stuck = false;
        while looking && !stuck {
            let r = row - 1u;
            stuck = true;
            for (var spin = 0u; spin < SPIN_LIMIT && stuck; spin++) {
                let inclusive = read_inclusive(r, t.col);
                if inclusive.ready {
                    start = inclusive.carry;
                    start_row = r;
                    looking = false;
                    stuck = false;
                } else if read_published(slot(r, t.col, AGGREGATE)).ready {
                    row = r;
                    stuck = false;
                }
            }
        }
        if stuck {
            atomicMax(&stuck_row, row);
        }
        workgroupBarrier();
        if local == 0u {
            decision = atomicLoad(&stuck_row);
        }
        let d = workgroupUniformLoad(&decision);
        if d == 0u {
            break;
        }
        if local == 0u {
            atomicStore(&stuck_row, 0u);
        }
        // The fallback: reduce tile row `d - 1` here, in the order its owner does.
        let fallback_row = d - 1u;
        let p = tile_thread(fallback_row * params.tiles_x + tile % params.tiles_x, local);
        var scratch: array<Elem, ELEMS_PER_THREAD>;
        let p_rows = scan_thread_rows(p, &scratch);
        let p_scan = tile_scan(p, local, p_rows.total, p_rows.flag);
        if stuck && row - 1u == fallback_row {
            // The scan runs in place: had the owner published meanwhile, it may also have
            // overwritten its rows while they were read here, so its own value wins. A value
            // still unpublished now was read before the owner's first store, which follows its
            // publication.
            let inclusive = read_inclusive(fallback_row, t.col);
            if inclusive.ready {
                start = inclusive.carry;
                start_row = fallback_row;
                looking = false;
            } else if read_published(slot(fallback_row, t.col, AGGREGATE)).ready {
                row = fallback_row;
            } else if fallback_row == 0u || p_scan.total_flag != 0u {
                start = carry_of(p_scan.total);
                start_row = fallback_row;
                publish_inclusive(fallback_row, t.col, start, p_scan.total_flag);
                looking = false;
            } else {
                publish(slot(fallback_row, t.col, AGGREGATE), p_scan.total, 0u);
                row = fallback_row;
            }
        }
    }

    // Fold forward from the inclusive prefix found, over the aggregates after it.
    if leader {
        var prefix = IDENTITY;
        if t.tile_row > 0u {
            var c = start;
            for (var r = start_row + 1u; r < t.tile_row; r++) {
                c = carry_add(c, read_published(slot(r, t.col, AGGREGATE)).value);
            }
            if !known {
                publish_inclusive(t.tile_row, t.col, carry_add(c, s.total), 0u);
            }
            prefix = carry_total(c);
        }
        column_prefix[t.tile_col] = prefix;
    }
    workgroupBarrier();
    store_thread_rows(t, &values, rows.heads, thread_prefix(column_prefix[t.tile_col], s));
}
