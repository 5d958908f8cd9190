//! A CPU model of the subgroup workgroup scan (`shaders/tile_scan_subgroup.wgsl`), for tests.
//!
//! Lavapipe, the only GPU on CI, forms full subgroups of 8 in local-index order, so the
//! kernel's paths for other sizes, partial subgroups, permuted lanes and out-of-order claims
//! never run there. This ports `placement`, `lane_of` and `tile_scan` statement by statement
//! and runs them on any formation a driver may choose, against a scan computed directly from
//! the positions. A subgroup runs in lockstep: a builtin sees the operands of all its active
//! invocations ("members") at once. Arithmetic the kernel relies on wrapping wraps here too;
//! anywhere else an overflow panics, which in the kernel would be a silent bug.

use std::fmt::Debug;

/// What the generated prelude defines for an element type.
trait Elem: Copy + Debug + PartialEq {
    const IDENTITY: Self;
    fn combine(a: Self, b: Self) -> Self;
}

/// Integer sums: exact, whatever the summation order.
impl Elem for u32 {
    const IDENTITY: u32 = 0;
    fn combine(a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }
}

/// Float sums: their bits depend on the summation tree.
impl Elem for f32 {
    const IDENTITY: f32 = -0.0;
    fn combine(a: f32, b: f32) -> f32 {
        a + b
    }
}

fn seg_combine<E: Elem>(earlier: E, later: E, later_flag: u32) -> E {
    if later_flag != 0 {
        return later;
    }
    E::combine(earlier, later)
}

/// One subgroup as the driver formed it: its active invocations and their lanes.
#[derive(Debug)]
struct Subgroup {
    size: u32,
    /// Per member: `local_invocation_index`, and `subgroup_invocation_id`.
    locals: Vec<usize>,
    lanes: Vec<u32>,
}

impl Subgroup {
    /// Each member's value of a per-invocation register (indexed by local index).
    fn gather<T: Copy>(&self, register: &[T]) -> Vec<T> {
        self.locals.iter().map(|&i| register[i]).collect()
    }

    /// A condition the kernel evaluates per invocation but needs uniform (it guards shuffles).
    fn uniform(&self, per_member: impl Iterator<Item = bool>) -> bool {
        let v: Vec<bool> = per_member.collect();
        assert!(
            v.iter().all(|&x| x == v[0]),
            "divergent control flow around shuffles: {self:?}"
        );
        v[0]
    }

    /// `subgroupBallot(true)`.
    fn ballot(&self) -> [u32; 4] {
        let mut mask = [0; 4];
        for &lane in &self.lanes {
            mask[lane as usize / 32] |= 1 << (lane % 32);
        }
        mask
    }

    /// `subgroupAdd(1u)`.
    fn add_one(&self) -> u32 {
        self.lanes.len() as u32
    }

    /// `subgroupExclusiveAdd(1u)`, per member.
    fn exclusive_add_one(&self) -> Vec<u32> {
        let below = |lane: u32| self.lanes.iter().filter(|&&l| l < lane).count() as u32;
        self.lanes.iter().map(|&lane| below(lane)).collect()
    }

    /// `subgroupMax(x)`.
    fn max(&self, x: &[u32]) -> u32 {
        x.iter().copied().max().unwrap()
    }

    /// `subgroupBroadcastFirst(x)`: `x` of the lowest active lane.
    fn broadcast_first<T: Copy>(&self, x: &[T]) -> T {
        let (lowest, _) = self
            .lanes
            .iter()
            .enumerate()
            .min_by_key(|&(_, &l)| l)
            .unwrap();
        x[lowest]
    }

    /// `subgroupShuffle(x, lane)`, per member: `x` of the member at `lane[k]`, which must be
    /// active (an inactive lane gives an undefined value).
    fn shuffle<T: Copy>(&self, x: &[T], lane: &[u32]) -> Vec<T> {
        let read = |source: u32| match self.lanes.iter().position(|&l| l == source) {
            Some(member) => x[member],
            None => panic!("shuffle from inactive lane {source}: {self:?}"),
        };
        lane.iter().map(|&source| read(source)).collect()
    }

    /// `subgroupShuffleUp(x, d)`, per member: `x` of lane `lane - d`; below lane `d` the value
    /// is undefined (the member's own here: the kernel must not use it).
    fn shuffle_up<T: Copy>(&self, x: &[T], d: u32) -> Vec<T> {
        let source: Vec<u32> = self
            .lanes
            .iter()
            .map(|&l| if l >= d { l - d } else { l })
            .collect();
        self.shuffle(x, &source)
    }
}

/// `shuffle_back` and `shuffle_back_flag`, per member: the value `d` ranks back; a shuffle up
/// when the active lanes are 0 to count - 1, else a shuffle from the lane `lane_of` finds.
fn shuffle_back<T: Copy>(sg: &Subgroup, p: &[Placement], x: &[T], d: u32) -> Vec<T> {
    let m = &sg.locals;
    if sg.uniform(m.iter().map(|&i| p[i].contiguous)) {
        return sg.shuffle_up(x, d);
    }
    let source_lane: Vec<u32> = m
        .iter()
        .map(|&i| lane_of(&p[i], p[i].rank - d.min(p[i].rank)))
        .collect();
    sg.shuffle(x, &source_lane)
}

fn atomic_add(atomic: &mut u32, x: u32) -> u32 {
    let old = *atomic;
    *atomic = old.wrapping_add(x);
    old
}

#[derive(Copy, Clone, Debug)]
struct Placement {
    position: u32,
    rank: u32,
    count: u32,
    base: u32,
    lanes: [u32; 4],
    contiguous: bool,
    words: u32,
}

/// `placement`, per member of `sg`. `claimed_positions` is the workgroup's counter: subgroups
/// run this in the order they reach its `atomicAdd`, since that is all they share.
fn placement(sg: &Subgroup, claimed_positions: &mut u32) -> Vec<Placement> {
    let lanes = sg.ballot();
    let count = sg.add_one();
    let rank = sg.exclusive_add_one();
    let contiguous = sg.max(&sg.lanes) + 1 == count;
    let words = sg.size.div_ceil(32).min(4);
    let first: Vec<u32> = rank
        .iter()
        .map(|&rank| {
            let mut first = 0;
            if rank == 0 {
                first = atomic_add(claimed_positions, count);
            }
            first
        })
        .collect();
    let base = sg.broadcast_first(&first);
    rank.iter()
        .map(|&rank| Placement {
            position: base + rank,
            rank,
            count,
            base,
            lanes,
            contiguous,
            words,
        })
        .collect()
}

fn lane_of(p: &Placement, k: u32) -> u32 {
    if p.contiguous {
        return k;
    }
    let mut rest = k;
    for w in 0..p.words {
        let word = p.lanes[w as usize];
        let n = word.count_ones();
        if rest < n {
            let mut m = word;
            let mut at = 0;
            let mut half = 16;
            while half > 0 {
                let low = (m & ((1u32 << half) - 1)).count_ones();
                if rest >= low {
                    rest -= low;
                    m >>= half;
                    at += half;
                }
                half /= 2;
            }
            return w * 32 + at;
        }
        rest -= n;
    }
    0
}

/// The field of `TileThread` that `tile_scan` reads, as `tile_thread` sets it.
struct TileThread {
    tile_col: u32,
}

fn tile_thread(tile_cols: u32, position: u32) -> TileThread {
    TileThread {
        tile_col: position % tile_cols,
    }
}

#[derive(Copy, Clone, Debug, PartialEq)]
struct TileScan<E> {
    exclusive: E,
    exclusive_flag: u32,
    total: E,
    total_flag: u32,
}

/// A `var<workgroup>` array, each slot written once before the barrier and read after it.
struct Shared<T>(Vec<Option<T>>);

impl<T: Copy> Shared<T> {
    fn new(len: usize) -> Self {
        Shared(vec![None; len])
    }

    fn store(&mut self, i: u32, x: T) {
        assert!(
            self.0[i as usize].replace(x).is_none(),
            "two invocations write slot {i}"
        );
    }

    fn load(&self, i: u32) -> T {
        self.0[i as usize].unwrap_or_else(|| panic!("slot {i} is read but never written"))
    }
}

/// `tile_scan`, run by the whole workgroup: `t`, `p`, `value` and `flag` per local index (the
/// workgroup size is their length), the result likewise.
fn tile_scan<E: Elem>(
    subgroups: &[Subgroup],
    tile_cols: u32,
    t: &[TileThread],
    p: &[Placement],
    value: &[E],
    flag: &[u32],
) -> Vec<TileScan<E>> {
    let n = value.len();
    let c = tile_cols;

    // Up to the barrier subgroup by subgroup: they share only workgroup memory, which nobody
    // reads before it. Registers are kept per local index across the barrier.
    let mut v = value.to_vec();
    let mut f = flag.to_vec();
    let mut above = vec![E::IDENTITY; n];
    let mut above_flag = vec![0; n];
    for sg in subgroups {
        let m = &sg.locals;
        let mut d = c;
        while sg.uniform(m.iter().map(|&i| d < p[i].count)) {
            // Every lane's value from before this step.
            let earlier = shuffle_back(sg, p, &sg.gather(&v), d);
            let earlier_flag = shuffle_back(sg, p, &sg.gather(&f), d);
            for (k, &i) in m.iter().enumerate() {
                if p[i].rank >= d {
                    v[i] = seg_combine(earlier[k], v[i], f[i]);
                    f[i] |= earlier_flag[k];
                }
            }
            d *= 2;
        }
        let shuffled = shuffle_back(sg, p, &sg.gather(&v), c);
        let shuffled_flag = shuffle_back(sg, p, &sg.gather(&f), c);
        for (k, &i) in m.iter().enumerate() {
            above[i] = shuffled[k];
            above_flag[i] = shuffled_flag[k];
        }
    }

    let mut group_value = Shared::new(n);
    let mut group_flag = Shared::new(n);
    let mut group_last = Shared::new(n);
    for i in 0..n {
        let (t, p) = (&t[i], &p[i]);
        let end = p.base + p.count;
        group_value.store(p.position, v[i]);
        group_flag.store(p.position, f[i]);
        group_last.store(p.position, (end - 1 - t.tile_col) / c);
    }
    // workgroupBarrier()
    (0..n)
        .map(|i| {
            let (t, p) = (&t[i], &p[i]);
            let first_row = (p.base + (t.tile_col.wrapping_sub(p.base) & (c - 1))) / c;
            let mut before = E::IDENTITY;
            let mut before_flag = 0;
            let mut row = 0;
            while row < first_row {
                let last = group_last.load(row * c + t.tile_col);
                // A hop that does not move on would spin forever on the GPU.
                assert!(last >= row, "row {row} of column {} hops back", t.tile_col);
                let at = last * c + t.tile_col;
                let gf = group_flag.load(at);
                before = seg_combine(before, group_value.load(at), gf);
                before_flag |= gf;
                row = last + 1;
            }
            let mut r = TileScan {
                exclusive: before,
                exclusive_flag: before_flag,
                total: seg_combine(before, v[i], f[i]),
                total_flag: before_flag | f[i],
            };
            if p.rank >= c {
                r.exclusive = seg_combine(before, above[i], above_flag[i]);
                r.exclusive_flag = before_flag | above_flag[i];
            }
            r
        })
        .collect()
}

/// How a driver formed one workgroup's subgroups, and the order they claim positions in.
#[derive(Debug)]
struct Formation {
    subgroups: Vec<Subgroup>,
    claim_order: Vec<usize>,
}

impl Formation {
    /// `subgroups`: per subgroup, its active invocations as (local index, lane) pairs.
    fn new(subgroup_size: u32, subgroups: Vec<Vec<(usize, u32)>>, claim_order: Vec<usize>) -> Self {
        assert!(subgroup_size.is_power_of_two() && (4..=128).contains(&subgroup_size));
        let workgroup_size: usize = subgroups.iter().map(Vec::len).sum();
        let mut local_seen = vec![false; workgroup_size];
        let subgroups: Vec<Subgroup> = subgroups
            .into_iter()
            .map(|members| {
                assert!(!members.is_empty());
                let mut lane_seen = vec![false; subgroup_size as usize];
                for &(local, lane) in &members {
                    assert!(!std::mem::replace(&mut local_seen[local], true));
                    assert!(!std::mem::replace(&mut lane_seen[lane as usize], true));
                }
                Subgroup {
                    size: subgroup_size,
                    locals: members.iter().map(|m| m.0).collect(),
                    lanes: members.iter().map(|m| m.1).collect(),
                }
            })
            .collect();
        let mut order = claim_order.clone();
        order.sort_unstable();
        assert!(order.into_iter().eq(0..subgroups.len()));
        Formation {
            subgroups,
            claim_order,
        }
    }

    /// Lavapipe's: full subgroups of consecutive invocations, lane = local index % size,
    /// claiming in order.
    fn in_order(workgroup_size: usize, subgroup_size: u32) -> Self {
        let size = subgroup_size as usize;
        let subgroups: Vec<Vec<(usize, u32)>> = (0..workgroup_size / size)
            .map(|s| {
                (s * size..(s + 1) * size)
                    .map(|l| (l, (l % size) as u32))
                    .collect()
            })
            .collect();
        let order = (0..subgroups.len()).collect();
        Formation::new(subgroup_size, subgroups, order)
    }

    /// Subgroups of `counts` active invocations each: random local indices, random distinct
    /// lanes in random order, a random claim order.
    fn random(rng: &mut Rng, subgroup_size: u32, counts: &[usize]) -> Self {
        let mut locals: Vec<usize> = (0..counts.iter().sum()).collect();
        rng.shuffle(&mut locals);
        let mut rest = &locals[..];
        let subgroups: Vec<Vec<(usize, u32)>> = counts
            .iter()
            .map(|&count| {
                let mut lanes: Vec<u32> = (0..subgroup_size).collect();
                rng.shuffle(&mut lanes);
                let (mine, others) = rest.split_at(count);
                rest = others;
                mine.iter().copied().zip(lanes).collect()
            })
            .collect();
        let mut order: Vec<usize> = (0..counts.len()).collect();
        rng.shuffle(&mut order);
        Formation::new(subgroup_size, subgroups, order)
    }
}

/// Runs `placement` and `tile_scan` on one workgroup formed as `formation`, every invocation
/// scanning the value and flag of its position in `input`; returns the results by position.
fn run<E: Elem>(formation: &Formation, tile_cols: u32, input: &[(E, u32)]) -> Vec<TileScan<E>> {
    let n = input.len();
    // Workgroup memory starts zeroed.
    let mut claimed_positions = 0;
    let mut places = vec![None; n];
    for &s in &formation.claim_order {
        let sg = &formation.subgroups[s];
        for (&i, place) in sg.locals.iter().zip(placement(sg, &mut claimed_positions)) {
            places[i] = Some(place);
        }
    }
    let p: Vec<Placement> = places.into_iter().map(Option::unwrap).collect();
    let t: Vec<TileThread> = p
        .iter()
        .map(|p| tile_thread(tile_cols, p.position))
        .collect();
    let (value, flag): (Vec<E>, Vec<u32>) = p.iter().map(|p| input[p.position as usize]).unzip();
    let scans = tile_scan(&formation.subgroups, tile_cols, &t, &p, &value, &flag);
    // `tile_scan` checked that positions are distinct: every slot is filled once.
    let mut by_position = vec![None; n];
    for (p, scan) in p.iter().zip(scans) {
        by_position[p.position as usize] = Some(scan);
    }
    by_position.into_iter().map(Option::unwrap).collect()
}

/// The tile scan straight from its definition: position `p` is thread row `p / tile_cols` of
/// column `p % tile_cols`, and each column is scanned down its thread rows.
fn direct<E: Elem>(tile_cols: u32, input: &[(E, u32)]) -> Vec<TileScan<E>> {
    let c = tile_cols as usize;
    let mut out = vec![None; input.len()];
    for col in 0..c {
        let (mut acc, mut acc_flag) = (E::IDENTITY, 0);
        for position in (col..input.len()).step_by(c) {
            let (value, flag) = input[position];
            let (exclusive, exclusive_flag) = (acc, acc_flag);
            acc = seg_combine(acc, value, flag);
            acc_flag |= flag;
            out[position] = Some(TileScan {
                exclusive,
                exclusive_flag,
                total: acc,
                total_flag: acc_flag,
            });
        }
    }
    out.into_iter().map(Option::unwrap).collect()
}

/// xorshift64: reproducible inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBGROUP_SIZES: [u32; 6] = [4, 8, 16, 32, 64, 128];
    const TILE_COLS: [u32; 6] = [1, 2, 4, 8, 16, 32];
    /// Whether a position starts a lane: never, about one in five, always.
    const FLAGGINGS: [fn(&mut Rng) -> u32; 3] = [|_| 0, |rng| u32::from(rng.below(5) == 0), |_| 1];

    fn tile_cols_up_to(workgroup_size: usize) -> impl Iterator<Item = u32> {
        TILE_COLS
            .into_iter()
            .filter(move |&c| c as usize <= workgroup_size)
    }

    fn u32_input(rng: &mut Rng, n: usize, flagging: fn(&mut Rng) -> u32) -> Vec<(u32, u32)> {
        (0..n).map(|_| (rng.next() as u32, flagging(rng))).collect()
    }

    /// Floats of many magnitudes, so that the summation tree shows in the rounding.
    fn f32_input(rng: &mut Rng, n: usize, flagging: fn(&mut Rng) -> u32) -> Vec<(f32, u32)> {
        (0..n)
            .map(|_| {
                let mantissa = (rng.next() >> 40) as f32 - (1 << 23) as f32;
                let value = mantissa * 2f32.powi(rng.below(40) as i32 - 20);
                (value, flagging(rng))
            })
            .collect()
    }

    /// The model's scan of every input of every flagging and tile width equals the direct one.
    fn assert_exact(rng: &mut Rng, formation: &Formation, workgroup_size: usize) {
        for c in tile_cols_up_to(workgroup_size) {
            for flagging in FLAGGINGS {
                let input = u32_input(rng, workgroup_size, flagging);
                let got = run(formation, c, &input);
                for (position, (got, want)) in got.iter().zip(direct(c, &input)).enumerate() {
                    assert_eq!(
                        *got, want,
                        "position {position}, tile_cols {c}, {formation:?}"
                    );
                }
            }
        }
    }

    fn bits(scans: &[TileScan<f32>]) -> Vec<[u32; 4]> {
        let word = |s: &TileScan<f32>| {
            [
                s.exclusive.to_bits(),
                s.exclusive_flag,
                s.total.to_bits(),
                s.total_flag,
            ]
        };
        scans.iter().map(word).collect()
    }

    #[test]
    fn full_subgroups_in_local_order() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for workgroup_size in [128, 256] {
            for size in SUBGROUP_SIZES {
                assert_exact(
                    &mut rng,
                    &Formation::in_order(workgroup_size, size),
                    workgroup_size,
                );
            }
        }
    }

    #[test]
    fn full_subgroups_in_any_order() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for workgroup_size in [128, 256] {
            for size in SUBGROUP_SIZES {
                let counts = vec![size as usize; workgroup_size / size as usize];
                for _ in 0..3 {
                    let formation = Formation::random(&mut rng, size, &counts);
                    assert_exact(&mut rng, &formation, workgroup_size);
                }
            }
        }
    }

    #[test]
    fn partial_subgroups() {
        let mut rng = Rng(0xd1b5_4a32_d192_ed03);
        // Lanes spread over the ballot words, the lowest active one not lane 0.
        let spread = Formation::new(32, vec![vec![(2, 3), (0, 7), (3, 8), (1, 20)]], vec![0]);
        assert_exact(&mut rng, &spread, 4);
        // A workgroup smaller than its one subgroup.
        for workgroup_size in [4, 8, 16, 32, 64] {
            for size in [32, 64, 128] {
                if workgroup_size < size as usize {
                    for _ in 0..3 {
                        let formation = Formation::random(&mut rng, size, &[workgroup_size]);
                        assert_exact(&mut rng, &formation, workgroup_size);
                    }
                }
            }
        }
        // Subgroups of unequal counts.
        for (size, counts) in [
            (32, &[24, 8][..]),
            (16, &[12, 4]),
            (8, &[5, 3]),
            (8, &[1, 7]),
        ] {
            for _ in 0..3 {
                let formation = Formation::random(&mut rng, size, counts);
                assert_exact(&mut rng, &formation, counts.iter().sum());
            }
        }
        for workgroup_size in [8, 32, 128, 256] {
            for size in SUBGROUP_SIZES {
                let mut counts = Vec::new();
                let mut left = workgroup_size;
                while left > 0 {
                    let count = 1 + rng.below(left.min(size as usize));
                    counts.push(count);
                    left -= count;
                }
                let formation = Formation::random(&mut rng, size, &counts);
                assert_exact(&mut rng, &formation, workgroup_size);
            }
        }
    }

    #[test]
    fn equal_counts_give_identical_float_bits() {
        let mut rng = Rng(0x6a09_e667_f3bc_c909);
        // (workgroup size, subgroup size, active invocations per subgroup)
        for (workgroup_size, size, count) in [
            (256, 8, 8),
            (256, 32, 32),
            (128, 64, 64),
            (128, 128, 128),
            (64, 32, 16),
            (128, 64, 32),
        ] {
            let counts = vec![count; workgroup_size / count];
            let formations: Vec<Formation> = (0..4)
                .map(|_| Formation::random(&mut rng, size, &counts))
                .collect();
            for c in tile_cols_up_to(workgroup_size) {
                for flagging in &FLAGGINGS[..2] {
                    let input = f32_input(&mut rng, workgroup_size, *flagging);
                    let first = bits(&run(&formations[0], c, &input));
                    for formation in &formations[1..] {
                        let other = bits(&run(formation, c, &input));
                        assert_eq!(first, other, "tile_cols {c}, {formation:?}");
                    }
                }
            }
        }
    }

    /// Why the host refuses subgroups of unequal counts: a run of 24 then 8 and a run of 8
    /// then 24 sum a column in different trees.
    #[test]
    fn unequal_counts_can_change_float_bits() {
        let mut rng = Rng(0xbb67_ae85_84ca_a73b);
        let members = |lanes: std::ops::Range<usize>| -> Vec<(usize, u32)> {
            lanes.map(|l| (l, (l % 24) as u32)).collect()
        };
        let formation = |order| Formation::new(32, vec![members(0..24), members(24..32)], order);
        let (first, second) = (formation(vec![0, 1]), formation(vec![1, 0]));
        let differ = (0..8).any(|_| {
            let input = f32_input(&mut rng, 32, FLAGGINGS[0]);
            bits(&run(&first, 1, &input)) != bits(&run(&second, 1, &input))
        });
        assert!(differ);
    }

    #[test]
    fn lane_of_finds_the_rank_th_active_lane() {
        let mut rng = Rng(0x3c6e_f372_fe94_f82b);
        for _ in 0..2000 {
            let size = SUBGROUP_SIZES[rng.below(SUBGROUP_SIZES.len())];
            let density = rng.below(17);
            let active: Vec<u32> = (0..size).filter(|_| rng.below(16) < density).collect();
            if active.is_empty() {
                continue;
            }
            let mut p = Placement {
                position: 0,
                rank: 0,
                count: active.len() as u32,
                base: 0,
                lanes: [0; 4],
                contiguous: false,
                words: size.div_ceil(32).min(4),
            };
            for &lane in &active {
                p.lanes[lane as usize / 32] |= 1 << (lane % 32);
            }
            for (k, &lane) in active.iter().enumerate() {
                assert_eq!(lane_of(&p, k as u32), lane, "rank {k} of {active:?}");
            }
            // Lanes 0 to count - 1: the shortcut and the search agree.
            p.lanes = [0; 4];
            for lane in 0..p.count {
                p.lanes[lane as usize / 32] |= 1 << (lane % 32);
            }
            for k in 0..p.count {
                assert_eq!(lane_of(&p, k), k);
                p.contiguous = true;
                assert_eq!(lane_of(&p, k), k);
                p.contiguous = false;
            }
        }
    }
}
