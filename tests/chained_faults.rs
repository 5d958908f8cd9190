//! The chained scan under injected faults and spin limits: every look-back step a fallback
//! (spin limit 0), owners that never publish (insertions and long fallback chains), and owners
//! that publish only after storing, with seeded busy waits. Results must be the same bits as
//! the plain kernel's (integers also exact against the CPU), and no publication may find a
//! slot holding other bits (the mismatch counter stays 0). Run it with `LP_NUM_THREADS` at 1, 2
//! and 8 to vary lavapipe's concurrency.

mod common;

use common::{assert_close_to_reference, bits, gpu_context_with, shaped, to_f64, values};
use gpuscan::plan::{Geometry, TileConfig};
use gpuscan::shaders::SPIN_LIMIT;
use gpuscan::{Array, Context, ContextOptions, Cumsum, DType, Device, Faults, Strategy};

/// Tiles of 32 elements (16 invocations x 2): hundreds of tiles on small inputs.
const SMALL_TILE: TileConfig = TileConfig {
    workgroup_size: 16,
    elements_per_thread: 2,
};

/// The inputs: several tiles' worth of one lane, of columns, and of many short lanes.
fn inputs(tile: TileConfig) -> Vec<(Array, Option<isize>)> {
    let t = tile.tile_len() as usize;
    let mut v = Vec::new();
    for (i, dtype) in [DType::Int32, DType::UInt32, DType::Float32, DType::Float64]
        .into_iter()
        .enumerate()
    {
        let seed = 100 + i as u64;
        v.push((values(dtype, 150 * t + 7, seed), None));
        v.push((shaped(dtype, &[40 * t + 3, 5], seed), Some(0)));
        v.push((shaped(dtype, &[200, t + 9], seed), Some(1)));
    }
    v.push((values(DType::Float16, 60 * t + 1, 7), None));
    v
}

fn context(tile: TileConfig, subgroups: bool, spin: u32, faults: Faults) -> Option<Context> {
    gpu_context_with(
        ContextOptions::default()
            .tile(tile)
            .subgroups(subgroups)
            .strategy(Strategy::Chained)
            .spin_limit(spin)
            .faults(faults),
    )
}

/// Runs every input on `ctx` and checks it against the plain kernel's bits (`want`) and the
/// CPU; returns the counters. `want` is filled on the first call.
fn run(ctx: &Context, cases: &[(Array, Option<isize>)], want: &mut Vec<Vec<u64>>, what: &str) {
    ctx.take_counters().unwrap();
    for (k, (a, axis)) in cases.iter().enumerate() {
        let mut opts = Cumsum::new().device(Device::Gpu);
        opts.axis = *axis;
        let got = ctx.cumsum(a, &opts).unwrap();
        let what = format!("{what}: {} {:?} axis {axis:?}", a.dtype(), a.shape());
        let acc = got.dtype();
        if acc.is_float() {
            let (g, _) = Geometry::resolve(a.shape(), *axis).unwrap();
            assert_close_to_reference(&got, &to_f64(&a.astype(acc)), &g, acc, &what);
        } else {
            let cpu = ctx.cumsum(a, &opts.device(Device::Cpu)).unwrap();
            assert_eq!(bits(&got), bits(&cpu), "{what}");
        }
        if want.len() == k {
            want.push(bits(&got));
        }
        assert!(
            bits(&got) == want[k],
            "{what}: the bits differ from the plain kernel's"
        );
    }
}

/// Every fault and spin limit, with and without subgroups, for one tile shape.
fn faults_leave_results_unchanged(tile: TileConfig) {
    let cases = inputs(tile);
    for subgroups in [true, false] {
        let Some(plain) = context(tile, subgroups, SPIN_LIMIT, Faults::NONE) else {
            return;
        };
        let mut want = Vec::new();
        run(&plain, &cases, &mut want, "plain");
        assert_eq!(plain.take_counters().unwrap().mismatches, 0);
        let runs = [
            (0, Faults::NONE, "every step a fallback"),
            (1, Faults::NONE, "spin limit 1"),
            (
                SPIN_LIMIT,
                Faults::NONE.unpublished(1),
                "every other row silent",
            ),
            (
                1,
                Faults::NONE.unpublished(3),
                "every fourth row silent, spin 1",
            ),
            (SPIN_LIMIT, Faults::NONE.late(0x5EED), "late publication"),
            (1, Faults::NONE.late(0xBEEF), "late publication, spin 1"),
            (0, Faults::NONE.late(0xCAFE), "late publication, spin 0"),
        ];
        for (spin, faults, name) in runs {
            let Some(ctx) = context(tile, subgroups, spin, faults) else {
                return;
            };
            let what = format!("{name} (tile {}, subgroups {subgroups})", tile.tile_len());
            run(&ctx, &cases, &mut want, &what);
            let counters = ctx.take_counters().unwrap();
            assert_eq!(counters.mismatches, 0, "{what}: {counters:?}");
            // Without polls, or with silent owners, the look-back must fall back.
            if spin == 0 || faults.unpublished_mask != 0 {
                assert!(counters.fallbacks > 0, "{what}: {counters:?}");
            }
        }
    }
}

#[test]
fn faults_leave_small_tile_results_unchanged() {
    faults_leave_results_unchanged(SMALL_TILE);
}

#[test]
fn faults_leave_default_tile_results_unchanged() {
    faults_leave_results_unchanged(TileConfig {
        workgroup_size: 64,
        elements_per_thread: 4,
    });
}

/// Chunked bindings and streamed batches carry into the next chunk through the carry binding;
/// under every fault the carried rows must still be the owner's.
#[test]
fn faults_with_chunks_and_batches() {
    let options = |spin, faults| {
        ContextOptions::default()
            .tile(SMALL_TILE)
            .strategy(Strategy::Chained)
            .max_binding_bytes(4096)
            .batch_bytes(10_000)
            .spin_limit(spin)
            .faults(faults)
    };
    let cases = [
        (values(DType::Int64, 20_001, 1), None),
        (shaped(DType::Float32, &[3001, 3], 2), Some(0)),
    ];
    let mut want = Vec::new();
    for (spin, faults) in [
        (SPIN_LIMIT, Faults::NONE),
        (0, Faults::NONE),
        (1, Faults::NONE.unpublished(1).late(7)),
    ] {
        let Some(ctx) = gpu_context_with(options(spin, faults)) else {
            return;
        };
        run(
            &ctx,
            &cases,
            &mut want,
            &format!("chunks, {faults:?} spin {spin}"),
        );
        assert_eq!(ctx.take_counters().unwrap().mismatches, 0);
    }
}
