// Single-pass chained scan with decoupled look-back and decoupled fallback: every element is
// read once from `src` and written once to `dst`.
//
// Tiles take their index from an atomic counter in the order they start, so a tile's
// predecessors have started before it. A tile publishes its total per column (its aggregate),
// then looks back over the tiles above it until one has published its inclusive prefix; its
// own inclusive prefix follows. Nothing assumes that a waiting tile's predecessor makes
// progress: after `params.spin_limit` polls the waiting workgroup reduces the predecessor's
// tile itself (the fallback) and publishes that aggregate for it, so the scan cannot hang on
// adapters without forward-progress guarantees.
//
// Memory model: workgroups meet only through the atomic words of `state`. The fallback reads
// the predecessor's input from `src`, which nothing writes, and only a tile's owner writes its
// rows of `dst`; so no plain location is written by one workgroup while another reads it, and
// correctness needs nothing beyond per-word atomicity and coherence.
//
// One code path per published value: the owner's tile and every fallback's are reduced by the
// same call in the same loop, from the same read-only input, so every writer of a slot stores
// the same bits. A writer that finds a slot already published keeps it and counts a mismatch
// if the bits differ (the host checks that the count stays 0).
//
// Determinism: a tile's inclusive prefix is always the left fold `inclusive(r - 1) +
// aggregate(r)`. The look-back only finds where the fold can start (the nearest published
// inclusive prefix, or an aggregate that begins a lane); the fold then runs forward over the
// aggregates in order, so every run gives the same result however tiles were scheduled.
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
//
// Fault injection (tests and `gpuscan selftest`; all 0 in normal use): `unpublished_mask`
// makes owners of tile rows r with `(r + 1) & mask == 0` publish nothing, forcing insertions
// and long fallback chains; `publish_late` makes every owner publish only after storing its
// rows, with busy waits seeded by `delay_seed`.

@group(0) @binding(3) var<storage, read_write> state: array<atomic<u32>>;

const READY: u32 = 0x80000000u;
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
    return Carry(value, identity());
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
            r.error = identity();
        }
    }
    return r;
}

fn carry_total(c: Carry) -> Elem {
    // A zero error is skipped: -0.0 + 0.0 would lose the sign of a sum of negative zeros.
    if COMPENSATED && c.error != identity() {
        return c.value + c.error;
    }
    return c.value;
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

// Publishes `value` at `at`, unless a value is there already: that one stays, and a mismatch
// is counted if its bits differ.
fn publish(at: u32, value: Elem) {
    let bits = elem_bits(value);
    let seen = read_published(at);
    if seen.ready {
        if any(elem_bits(seen.value) != bits) {
            atomicAdd(&counters[COUNT_MISMATCHES], 1u);
        }
        return;
    }
    for (var w = 0u; w < WORDS; w++) {
        let piece = (bits[w / 2u] >> (16u * (w % 2u))) & 0xffffu;
        atomicStore(&state[at + w], READY | piece);
    }
}

fn publish_inclusive(tile_row: u32, col: u32, c: Carry) {
    let at = slot(tile_row, col, INCLUSIVE);
    publish(at, c.value);
    publish(at + WORDS, c.error);
}

// What a tile publishes once reduced: its inclusive prefix when it knows it (the first tile
// row, or a tile in which a lane starts in this column), else its aggregate.
fn publish_tile(tile_row: u32, col: u32, s: TileScan) {
    if tile_row == 0u || s.total_flag != 0u {
        publish_inclusive(tile_row, col, carry_of(s.total));
    } else {
        publish(slot(tile_row, col, AGGREGATE), s.total);
    }
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

// A busy wait of a pseudo-random length per tile (fault injection only).
fn stall(tile: u32, salt: u32) {
    if params.delay_seed == 0u {
        return;
    }
    var h = (tile ^ params.delay_seed) * 0x9E3779B1u + salt;
    h ^= h >> 16u;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13u;
    var sink = 0u;
    for (var i = 0u; i < (h & 1023u); i++) {
        sink |= atomicLoad(&state[0]) & READY;
    }
    // Never true (fewer than 2^31 tiles); keeps the loads from being optimised away.
    if sink != 0u {
        atomicAdd(&counters[COUNT_SINK], 1u);
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn chained_scan(inv: Invocation) {
    if flat_workgroup(inv.workgroup) >= params.workgroups {
        return;
    }
    let place = placement(inv);
    let local = place.position;
    if local == 0u {
        tile_index = atomicAdd(&state[0], 1u);
    }
    let tile = workgroupUniformLoad(&tile_index);
    let own = tile_thread(tile, local);
    let column_tile = tile % params.tiles_x;
    // The invocations of the tile's last row hold the column totals and do the look-back.
    let leader = holds_total(own);
    let silent = params.unpublished_mask != 0u
        && ((own.tile_row + 1u) & params.unpublished_mask) == 0u;
    let early = !silent && params.publish_late == 0u;

    var values: array<Elem, ELEMS_PER_THREAD>;
    var own_rows: ThreadRows;
    var own_scan: TileScan;
    var looking = leader && own.tile_row > 0u;
    // The tile row above which this column looks next, and whether it waited there in vain.
    var row = own.tile_row;
    var stuck = false;
    var start = carry_of(identity());
    var start_row = 0u;
    // The tile row reduced in this round: the own tile first, then each fallback's.
    var reduced = own.tile_row;
    loop {
        // The one place where any tile is reduced, whoever's it is.
        let t = tile_thread(reduced * params.tiles_x + column_tile, local);
        var scanned: array<Elem, ELEMS_PER_THREAD>;
        let rows = scan_thread_rows(t, &scanned);
        let s = tile_scan(t, place, rows.total, rows.flag);
        if reduced == own.tile_row {
            values = scanned;
            own_rows = rows;
            own_scan = s;
            if leader && early {
                publish_tile(reduced, t.col, s);
            }
        } else if stuck && row - 1u == reduced {
            // This column waited for `reduced`: publish for it and move the look-back on.
            publish_tile(reduced, t.col, s);
            if reduced == 0u || s.total_flag != 0u {
                start = carry_of(s.total);
                start_row = reduced;
                looking = false;
            } else {
                row = reduced;
            }
        }

        // Look back: each leader walks up its column without barriers while predecessors have
        // published. Only when some column waited `spin_limit` polls in vain does the
        // workgroup meet, and then it reduces the latest such tile for all columns together.
        stuck = false;
        while looking && !stuck {
            let r = row - 1u;
            stuck = true;
            for (var spin = 0u; spin < params.spin_limit && stuck; spin++) {
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
            atomicAdd(&counters[COUNT_FALLBACKS], 1u);
        }
        reduced = d - 1u;
    }

    // Fold forward from the inclusive prefix found, over the aggregates after it.
    let s = own_scan;
    // A tile that did not know its inclusive prefix publishes it once folded.
    let folded = leader && own.tile_row > 0u && s.total_flag == 0u;
    var inclusive = carry_of(identity());
    if leader {
        var prefix = identity();
        if own.tile_row > 0u {
            var c = start;
            for (var r = start_row + 1u; r < own.tile_row; r++) {
                c = carry_add(c, read_published(slot(r, own.col, AGGREGATE)).value);
            }
            inclusive = carry_add(c, s.total);
            if folded && early {
                publish_inclusive(own.tile_row, own.col, inclusive);
            }
            prefix = carry_total(c);
        }
        column_prefix[own.tile_col] = prefix;
    }
    workgroupBarrier();
    stall(tile, 1u);
    store_thread_rows(own, &values, own_rows.heads, thread_prefix(column_prefix[own.tile_col], s));
    if params.publish_late != 0u && !silent {
        stall(tile, 2u);
        if leader {
            publish_tile(own.tile_row, own.col, s);
        }
        if folded {
            publish_inclusive(own.tile_row, own.col, inclusive);
        }
    }
}
