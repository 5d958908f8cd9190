// The workgroup scan with subgroup shuffles: each subgroup scans its invocations in registers
// (a Hillis-Steele scan, no barriers), then every invocation folds the totals of the subgroups
// before it, read from workgroup memory in order. Two barriers in all, against 2 log2(n) for
// the tree.
//
// Nothing here assumes how the driver forms subgroups: WGSL promises no relation between
// subgroup lanes and `local_invocation_index`, subgroups may be partial, and their size may be
// anything from 4 to 128. So an invocation's place in the tile comes from its subgroup: each
// subgroup claims a run of consecutive positions (an atomic counter in workgroup memory), and
// its active invocations take them in lane order. Positions then cover the workgroup exactly
// once whatever the layout, and the invocations of one subgroup hold neighbouring positions,
// which is what the shuffles need. When every subgroup has the same number of active
// invocations, the runs start at multiples of it in any claiming order, so the summation tree,
// and with it every float result, is the same on every run (a context probes this before its
// first subgroup tile scan).

struct Placement {
    // Place in the tile: 0 to WORKGROUP_SIZE - 1, each taken once.
    position: u32,
    // Among the subgroup's active invocations, in lane order.
    rank: u32,
    // Active invocations of the subgroup, and the position of rank 0.
    count: u32,
    base: u32,
    // The active lanes, and whether they are lanes 0 to count - 1 (then rank == lane).
    lanes: vec4<u32>,
    contiguous: bool,
    // Ballot words that can hold a lane (subgroup_size / 32, rounded up).
    words: u32,
}

var<workgroup> claimed_positions: atomic<u32>;

fn placement(inv: Invocation) -> Placement {
    var p: Placement;
    p.lanes = subgroupBallot(true);
    p.count = subgroupAdd(1u);
    p.rank = subgroupExclusiveAdd(1u);
    p.contiguous = subgroupMax(inv.subgroup_lane) + 1u == p.count;
    p.words = min((inv.subgroup_size + 31u) / 32u, 4u);
    var first = 0u;
    if p.rank == 0u {
        first = atomicAdd(&claimed_positions, p.count);
    }
    // Rank 0 is the lowest active lane, the one subgroupBroadcastFirst reads.
    p.base = subgroupBroadcastFirst(first);
    p.position = p.base + p.rank;
    return p;
}

// The lane of the subgroup's active invocation of rank `k`: the k-th set bit of the ballot.
fn lane_of(p: Placement, k: u32) -> u32 {
    if p.contiguous {
        return k;
    }
    var rest = k;
    for (var w = 0u; w < p.words; w++) {
        let word = p.lanes[w];
        let n = countOneBits(word);
        if rest < n {
            // Binary search for the bit with `rest` set bits below it.
            var m = word;
            var at = 0u;
            for (var half = 16u; half > 0u; half /= 2u) {
                let low = countOneBits(m & ((1u << half) - 1u));
                if rest >= low {
                    rest -= low;
                    m >>= half;
                    at += half;
                }
            }
            return w * 32u + at;
        }
        rest -= n;
    }
    return 0u;
}

// The value of the invocation `d` ranks before this one (anything when there is none). With
// lanes 0 to count - 1 active, rank is lane and a shuffle up does it.
fn shuffle_back(p: Placement, x: Elem, d: u32) -> Elem {
    if p.contiguous {
        return shuffle_up(x, d);
    }
    return shuffle(x, lane_of(p, p.rank - min(d, p.rank)));
}

fn shuffle_back_flag(p: Placement, x: u32, d: u32) -> u32 {
    if p.contiguous {
        return subgroupShuffleUp(x, d);
    }
    return subgroupShuffle(x, lane_of(p, p.rank - min(d, p.rank)));
}

var<workgroup> group_value: array<Elem, WORKGROUP_SIZE>;
var<workgroup> group_flag: array<u32, WORKGROUP_SIZE>;
// Per position: the last thread row its column has in the position's subgroup run.
var<workgroup> group_last: array<u32, WORKGROUP_SIZE>;

// Must be called in uniform control flow, by every invocation of the workgroup.
fn tile_scan(t: TileThread, p: Placement, value: Elem, flag: u32) -> TileScan {
    let c = params.tile_cols;

    // Invocations of one column sit `c` ranks apart; scan them (segmented) within the subgroup.
    var v = value;
    var f = flag;
    for (var d = c; d < p.count; d *= 2u) {
        let earlier = shuffle_back(p, v, d);
        let earlier_flag = shuffle_back_flag(p, f, d);
        if p.rank >= d {
            v = seg_combine(earlier, v, f);
            f |= earlier_flag;
        }
    }
    let above = shuffle_back(p, v, c);
    let above_flag = shuffle_back_flag(p, f, c);

    // Each run of positions is one subgroup's; its last row in a column holds the run's total.
    let end = p.base + p.count;
    group_value[p.position] = v;
    group_flag[p.position] = f;
    group_last[p.position] = (end - 1u - t.tile_col) / c;
    workgroupBarrier();
    // Fold the runs above this one in order, hopping from each run's last row to the next.
    let first_row = (p.base + ((t.tile_col - p.base) & (c - 1u))) / c;
    var before = identity();
    var before_flag = 0u;
    var row = 0u;
    while row < first_row {
        let last = group_last[row * c + t.tile_col];
        let at = last * c + t.tile_col;
        let gf = group_flag[at];
        before = seg_combine(before, group_value[at], gf);
        before_flag |= gf;
        row = last + 1u;
    }
    var r: TileScan;
    r.exclusive = before;
    r.exclusive_flag = before_flag;
    // The row above is in this subgroup's run.
    if p.rank >= c {
        r.exclusive = seg_combine(before, above, above_flag);
        r.exclusive_flag = before_flag | above_flag;
    }
    r.total = seg_combine(before, v, f);
    r.total_flag = before_flag | f;
    // The slots are reused by the next call (the chained scan's fallback).
    workgroupBarrier();
    return r;
}
