//! The GPU path against the CPU path and a float64 reference: random shapes, axes and dtypes,
//! lengths at tile and level boundaries, chunked bindings, streamed batches, and one array
//! larger than lavapipe's 128 MiB binding.

mod common;

use common::{assert_close_to_reference, bits, gpu_context_with, shaped, to_f64, values};
use gpuscan::plan::{Geometry, TileConfig};
use gpuscan::shaders::SPIN_LIMIT;
use gpuscan::{
    Array, Context, ContextOptions, Cumsum, DType, Device, Order, Strategy as ScanStrategy,
};
use proptest::prelude::*;

/// Checks one cumsum on the GPU against the CPU: integers and bools bit for bit, floats within
/// section 7's tolerance of the reference. The CPU result is held to it too, except in float16,
/// where numpy's sequential rounding legitimately stalls (at 2048 for sums of values below 1).
fn check(ctx: &Context, a: &Array, opts: Cumsum, what: &str) {
    let acc = opts.dtype.unwrap_or_else(|| a.dtype().cumsum_default());
    if !ctx.gpu_dtypes().contains(&acc) {
        return;
    }
    let cpu = ctx.cumsum(a, &opts.device(Device::Cpu)).unwrap();
    // The exact order is the CPU's alone; the GPU sums in its own order.
    let gpu_opts = match opts.order {
        Order::Exact => opts.order(Order::Fast),
        _ => opts,
    };
    let gpu = ctx.cumsum(a, &gpu_opts.device(Device::Gpu)).unwrap();
    assert_eq!(gpu.shape(), cpu.shape(), "{what}");
    assert_eq!(gpu.dtype(), cpu.dtype(), "{what}");
    if acc.is_float() {
        let (g, _) = Geometry::resolve(a.shape(), opts.axis).unwrap();
        let x = to_f64(&a.astype(acc));
        if acc != DType::Float16 {
            assert_close_to_reference(&cpu, &x, &g, acc, &format!("{what} (cpu)"));
        }
        assert_close_to_reference(&gpu, &x, &g, acc, &format!("{what} (gpu)"));
    } else {
        assert_eq!(bits(&gpu), bits(&cpu), "{what}");
    }
}

/// The algorithms every test runs, forced.
const STRATEGIES: [ScanStrategy; 3] = [
    ScanStrategy::Blelloch,
    ScanStrategy::ReduceThenScan,
    ScanStrategy::Chained,
];

/// [`check`] with every strategy.
fn check_all(ctx: &Context, a: &Array, opts: Cumsum, what: &str) {
    for strategy in STRATEGIES {
        check(
            ctx,
            a,
            opts.strategy(strategy),
            &format!("{what} {strategy}"),
        );
    }
}

fn arb_case() -> impl Strategy<Value = (Vec<usize>, Option<isize>, DType, Option<DType>, u64)> {
    let shape = prop_oneof![
        3 => prop::collection::vec(0usize..6, 0..=4),
        1 => prop::collection::vec(1usize..300, 1..=2),
    ];
    let dtype = prop::sample::select(DType::ALL.to_vec());
    let acc = prop::option::weighted(0.3, prop::sample::select(DType::ALL.to_vec()));
    (shape, dtype, acc, any::<u64>(), any::<Option<i8>>()).prop_map(
        |(shape, dtype, acc, seed, axis)| {
            let ndim = shape.len().max(1) as isize;
            let axis = axis.map(|a| (a as isize).rem_euclid(2 * ndim) - ndim);
            (shape, axis, dtype, acc, seed)
        },
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn gpu_matches_cpu_for_random_shapes_axes_and_dtypes(case in arb_case()) {
        // Every strategy, with subgroup workgroup scans or without, and the chained scan
        // under spin limits 0, 1 and the default (both drawn per case).
        let subgroups = (case.4 >> 8) % 2 == 0;
        let spin = SPIN_LIMITS[((case.4 >> 9) % 3) as usize];
        let Some(ctx) = shared_ctx_with(subgroups, spin) else { return Ok(()); };
        let (shape, axis, dtype, acc, seed) = case;
        let a = shaped(dtype, &shape, seed);
        let order = [Order::Fast, Order::Exact, Order::Wide][(seed % 3) as usize];
        let mut opts = Cumsum::new().order(order);
        opts.axis = axis;
        opts.dtype = acc;
        let what = format!("{dtype} {shape:?} axis {axis:?} dtype {acc:?} {order:?} subgroups {subgroups} spin {spin}");
        check_all(ctx, &a, opts, &what);
    }
}

/// The chained scan's spin limits the tests run: every look-back step a fallback, one poll,
/// and the default.
const SPIN_LIMITS: [u32; 3] = [0, 1, SPIN_LIMIT];

/// 1000 cases from a fixed seed, so CI is repeatable; `PROPTEST_CASES=100000
/// PROPTEST_RNG_SEED=$RANDOM` makes a soak run.
fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    let seeded = std::env::var_os("PROPTEST_RNG_SEED").is_some();
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000),
        rng_seed: if seeded {
            default.rng_seed
        } else {
            proptest::test_runner::RngSeed::Fixed(0x5EED_CAFE)
        },
        failure_persistence: None,
        ..default
    }
}

/// A context per (subgroups allowed, spin limit), shared by the tests of this binary.
fn shared_ctx_with(subgroups: bool, spin: u32) -> Option<&'static Context> {
    type Slot = std::sync::OnceLock<Option<Context>>;
    static CTX: [Slot; 6] = [const { Slot::new() }; 6];
    let k = SPIN_LIMITS
        .iter()
        .position(|&s| s == spin)
        .expect("a tested spin limit");
    CTX[k * 2 + usize::from(subgroups)]
        .get_or_init(|| {
            gpu_context_with(
                ContextOptions::default()
                    .subgroups(subgroups)
                    .spin_limit(spin),
            )
        })
        .as_ref()
}

fn shared_ctx() -> Option<&'static Context> {
    shared_ctx_with(true, SPIN_LIMIT)
}

/// Contexts with and without subgroups, at the default spin limit and at 1.
fn both_contexts() -> Vec<&'static Context> {
    [
        shared_ctx_with(true, SPIN_LIMIT),
        shared_ctx_with(false, SPIN_LIMIT),
        shared_ctx_with(true, 1),
        shared_ctx_with(false, 1),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn every_gpu_dtype_runs_on_lavapipe() {
    let Some(ctx) = shared_ctx() else { return };
    let dtypes = ctx.gpu_dtypes();
    for d in [
        DType::Bool,
        DType::Int8,
        DType::Int32,
        DType::UInt16,
        DType::Float32,
    ] {
        assert!(dtypes.contains(&d), "{d} must run on every adapter");
    }
    if ctx
        .adapter_info()
        .is_some_and(|i| i.name.contains("llvmpipe"))
    {
        assert_eq!(
            dtypes.len(),
            DType::ALL.len(),
            "lavapipe has int64, f64 and f16: {dtypes:?}"
        );
    }
}

/// Lengths around the default tile (T = 2048) and its square, for one float and one int dtype,
/// as one lane and as many lanes of the last axis.
#[test]
fn lengths_at_default_tile_and_level_boundaries() {
    for ctx in both_contexts() {
        let t = TileConfig::default().tile_len() as usize;
        for n in [t - 1, t, t + 1, t * t - 1, t * t + 1] {
            for dtype in [DType::Float32, DType::Int64] {
                let a = values(dtype, n, n as u64);
                check_all(ctx, &a, Cumsum::new(), &format!("{dtype} n = {n}"));
            }
        }
        let a = shaped(DType::Int32, &[3, t + 1], 7);
        check_all(ctx, &a, Cumsum::new().axis(1), "3 lanes of T + 1");
        check_all(ctx, &a, Cumsum::new().axis(0), "T + 1 lanes of 3");
    }
}

/// A small tile (T = 32) puts three and four levels within reach: T-1 ... T^3+1, for
/// contiguous and strided lanes.
#[test]
fn lengths_at_small_tile_level_boundaries() {
    let tile = TileConfig {
        workgroup_size: 16,
        elements_per_thread: 2,
    };
    for subgroups in [true, false] {
        for spin in SPIN_LIMITS {
            let options = ContextOptions::default()
                .tile(tile)
                .subgroups(subgroups)
                .spin_limit(spin);
            let Some(ctx) = gpu_context_with(options) else {
                return;
            };
            small_tile_lengths(&ctx, tile);
            assert_eq!(ctx.take_counters().unwrap().mismatches, 0);
        }
    }
}

fn small_tile_lengths(ctx: &Context, tile: TileConfig) {
    let t = tile.tile_len() as usize;
    for n in [
        t - 1,
        t,
        t + 1,
        t * t - 1,
        t * t,
        t * t + 1,
        t * t * t - 1,
        t * t * t + 1,
    ] {
        for dtype in [
            DType::Float32,
            DType::Int32,
            DType::Float64,
            DType::UInt64,
            DType::Bool,
            DType::Float16,
        ] {
            let a = values(dtype, n, n as u64 ^ 0xABCD);
            check_all(
                ctx,
                &a,
                Cumsum::new(),
                &format!("{dtype} n = {n} (T = {t})"),
            );
        }
    }
    // Strided lanes: 3 columns make tiles of 4 columns x 8 rows.
    for rows in [7, 8, 9, 63, 64, 65, 513, 4097] {
        let a = shaped(DType::Int64, &[rows, 3], rows as u64);
        check_all(
            ctx,
            &a,
            Cumsum::new().axis(0),
            &format!("({rows}, 3) axis 0"),
        );
        let a = shaped(DType::Float32, &[2, rows, 5], rows as u64);
        check_all(
            ctx,
            &a,
            Cumsum::new().axis(1),
            &format!("(2, {rows}, 5) axis 1"),
        );
    }
    // Short lanes packed many to a tile, with lane starts at every offset within it.
    for lane in [1, 2, 3, 5, 31, 32, 33, 1000] {
        let a = shaped(DType::Int32, &[40_000 / lane, lane], lane as u64);
        check_all(ctx, &a, Cumsum::new().axis(1), &format!("lanes of {lane}"));
    }
}

/// Tiny bindings force many chunks, the carry between them, and rows wider than a binding.
#[test]
fn chunked_bindings_carry_the_running_sum() {
    let options = ContextOptions::default().max_binding_bytes(4096);
    let Some(ctx) = gpu_context_with(options) else {
        return;
    };
    for dtype in [
        DType::Float32,
        DType::Int64,
        DType::Float16,
        DType::Int8,
        DType::Bool,
    ] {
        let a = values(dtype, 10_001, 3);
        check_all(&ctx, &a, Cumsum::new(), &format!("{dtype} 1-D in chunks"));
        let a = shaped(dtype, &[7, 301, 3], 4);
        for axis in [0, 1, 2] {
            check_all(
                &ctx,
                &a,
                Cumsum::new().axis(axis),
                &format!("{dtype} 3-D axis {axis} in chunks"),
            );
        }
        // Rows of 2001 elements are wider than a 4 KiB binding for every stored size.
        let a = shaped(dtype, &[5, 2001], 5);
        check_all(
            &ctx,
            &a,
            Cumsum::new().axis(0),
            &format!("{dtype} wide rows"),
        );
    }
}

/// Tiny staging batches stream the array through the GPU, carrying across batches.
#[test]
fn streamed_batches_carry_the_running_sum() {
    let options = ContextOptions::default()
        .batch_bytes(6000)
        .max_binding_bytes(2048);
    let Some(ctx) = gpu_context_with(options) else {
        return;
    };
    for dtype in [DType::Float32, DType::UInt32, DType::Float16] {
        let a = values(dtype, 20_000, 9);
        check_all(&ctx, &a, Cumsum::new(), &format!("{dtype} 1-D in batches"));
        let a = shaped(dtype, &[9, 50, 13], 10);
        for axis in [0, 1, 2] {
            check_all(
                &ctx,
                &a,
                Cumsum::new().axis(axis),
                &format!("{dtype} axis {axis} in batches"),
            );
        }
        let a = shaped(dtype, &[4, 3001], 11);
        check_all(
            &ctx,
            &a,
            Cumsum::new().axis(0),
            &format!("{dtype} wide rows in batches"),
        );
    }
}

/// 200 MB of float32 is larger than lavapipe's 128 MiB binding: two chunks and a carry. The
/// data keep every partial sum a small integer, so the result is exact in any order.
#[test]
fn float32_larger_than_one_binding() {
    let Some(ctx) = shared_ctx() else { return };
    let n = 50_000_000usize;
    let a = Array::from_vec((0..n).map(|i| (i % 7) as f32 - 3.0).collect::<Vec<_>>());
    let r = ctx.cumsum(&a, &Cumsum::new().device(Device::Gpu)).unwrap();
    let got = r.as_slice::<f32>().unwrap();
    let mut acc = 0.0f32;
    for (i, &g) in got.iter().enumerate() {
        acc += (i % 7) as f32 - 3.0;
        assert_eq!(g, acc, "element {i}");
    }
    // Strided: rows of 26M float32 (104 MB) are one chunk each; the carry crosses chunks.
    let a = Array::from_shape_vec(
        &[2, 26_000_000],
        (0..52_000_000u32).map(|i| (i % 5) as f32).collect(),
    )
    .unwrap();
    let r = ctx
        .cumsum(&a, &Cumsum::new().axis(0).device(Device::Gpu))
        .unwrap();
    let got = r.as_slice::<f32>().unwrap();
    for i in (0..26_000_000u32).step_by(9973) {
        let j = i as usize + 26_000_000;
        assert_eq!(
            got[j],
            (i % 5) as f32 + ((i + 26_000_000) % 5) as f32,
            "column {i}"
        );
    }
}

/// A device created without SHADER_INT64: Gpu names the missing feature, Auto uses the CPU.
#[test]
fn missing_features_are_reported_and_auto_falls_back() {
    if shared_ctx().is_none() {
        return;
    }
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter = pollster::block_on(instance.request_adapter(&Default::default())).unwrap();
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("test device without optional features"),
        ..Default::default()
    }))
    .unwrap();
    let ctx =
        Context::from_device(device, queue, ContextOptions::default().auto_threshold(0)).unwrap();
    let a = Array::from_vec(vec![1i32, 2, 3]);
    let err = ctx
        .cumsum(&a, &Cumsum::new().device(Device::Gpu))
        .unwrap_err();
    assert!(
        matches!(
            err,
            gpuscan::Error::MissingFeature {
                feature: "SHADER_INT64",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("SHADER_INT64"));
    let r = ctx.cumsum(&a, &Cumsum::new()).unwrap();
    assert_eq!(r.as_slice::<i64>().unwrap(), &[1, 3, 6]);
    // int32 accumulation needs no feature and runs on the caller's device.
    let r = ctx
        .cumsum(&a, &Cumsum::new().dtype(DType::Int32).device(Device::Gpu))
        .unwrap();
    assert_eq!(r.as_slice::<i32>().unwrap(), &[1, 3, 6]);
}

/// wgpu validation errors come back as errors, not panics.
#[test]
fn validation_errors_are_returned() {
    let Some(ctx) = shared_ctx() else { return };
    let a = ctx.upload(&Array::from_vec(vec![1.0f32; 1000])).unwrap();
    a.buffer().destroy();
    let err = ctx.cumsum_gpu(&a, None).unwrap_err();
    assert!(
        matches!(
            err,
            gpuscan::Error::Gpu {
                kind: gpuscan::GpuErrorKind::Validation,
                source: Some(_),
                ..
            }
        ),
        "{err}"
    );
}

/// Repeated scans of the same input give bit-identical output, for every strategy, with and
/// without subgroups, however the adapter schedules the chained scan's tiles (its look-back
/// ends at a different tile, and falls back, from run to run).
#[test]
fn gpu_results_are_deterministic() {
    let inputs = [
        (values(DType::Float32, 1_000_003, 42), None),
        (shaped(DType::Float32, &[3001, 37], 43), Some(0)),
        (shaped(DType::Float64, &[37, 30_011], 44), Some(1)),
        (values(DType::Float16, 100_001, 45), None),
    ];
    for ctx in both_contexts() {
        for strategy in STRATEGIES {
            for (a, axis) in &inputs {
                let mut opts = Cumsum::new().device(Device::Gpu).strategy(strategy);
                opts.axis = *axis;
                let first = bits(&ctx.cumsum(a, &opts).unwrap());
                for run in 0..4 {
                    let again = bits(&ctx.cumsum(a, &opts).unwrap());
                    let what = format!("{strategy} {} {axis:?} run {run}", a.dtype());
                    assert!(again == first, "{what}: the bits changed");
                }
            }
        }
    }
}

/// The chained scan's state and fallback at many tiles: a small tile makes 4096 of them, each
/// looking back over several predecessors; integers make any error exact.
#[test]
fn chained_scan_over_many_small_tiles() {
    let tile = TileConfig {
        workgroup_size: 8,
        elements_per_thread: 1,
    };
    for subgroups in [true, false] {
        let options = ContextOptions::default()
            .tile(tile)
            .subgroups(subgroups)
            .strategy(ScanStrategy::Chained);
        let Some(ctx) = gpu_context_with(options) else {
            return;
        };
        for dtype in [DType::Int32, DType::Int64, DType::UInt32] {
            let a = values(dtype, 8 * 4096 + 3, 77);
            check(
                &ctx,
                &a,
                Cumsum::new(),
                &format!("{dtype} subgroups {subgroups}"),
            );
            let a = shaped(dtype, &[4096, 5], 78);
            check(
                &ctx,
                &a,
                Cumsum::new().axis(0),
                &format!("{dtype} columns, subgroups {subgroups}"),
            );
        }
    }
}

/// Resident scans read their source only: out of place it stays as uploaded, with every
/// strategy; in place (destination = source) every strategy gives the same result, the chained
/// scan running as reduce-then-scan.
#[test]
fn resident_scans_read_the_source_only_and_run_in_place() {
    let t = TileConfig::default().tile_len() as usize;
    let inputs = [
        (values(DType::Int64, 9 * t + 5, 61), None),
        (shaped(DType::Int64, &[300, 37], 62), Some(0)),
        (shaped(DType::Float32, &[5, 3 * t + 1], 63), Some(1)),
    ];
    for strategy in STRATEGIES {
        let Some(ctx) = gpu_context_with(ContextOptions::default().strategy(strategy)) else {
            return;
        };
        for (a, axis) in &inputs {
            let what = format!("{strategy} {} {:?} axis {axis:?}", a.dtype(), a.shape());
            let mut opts = Cumsum::new().device(Device::Cpu);
            opts.axis = *axis;
            let want = ctx.cumsum(a, &opts).unwrap();
            let src = ctx.upload(a).unwrap();
            let dst = ctx.cumsum_gpu(&src, *axis).unwrap();
            let got = ctx.download(&dst).unwrap();
            let uploaded = ctx.download(&src).unwrap();
            assert_eq!(
                bits(&uploaded),
                bits(&a.astype(src.dtype())),
                "{what}: source changed"
            );
            let check_result = |got: &Array, how: &str| {
                if got.dtype().is_float() {
                    let (g, _) = Geometry::resolve(a.shape(), *axis).unwrap();
                    assert_close_to_reference(got, &to_f64(a), &g, got.dtype(), &what);
                } else {
                    assert_eq!(bits(got), bits(&want), "{what} {how}");
                }
            };
            check_result(&got, "out of place");
            let device = ctx.device().unwrap();
            let mut encoder = device.create_command_encoder(&Default::default());
            ctx.record_cumsum(&mut encoder, &src, &src, *axis).unwrap();
            ctx.queue().unwrap().submit([encoder.finish()]);
            check_result(&ctx.download(&src).unwrap(), "in place");
        }
    }
}

/// One context serves several threads at once (error scopes are per thread in wgpu).
#[test]
fn one_context_serves_many_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Context>();
    let Some(ctx) = shared_ctx() else { return };
    std::thread::scope(|s| {
        for t in 0..4u64 {
            s.spawn(move || {
                for round in 0..5 {
                    let n = 1000 + 3001 * (t as usize) + 17 * round;
                    let a = shaped(DType::Int32, &[n / 7, 7], t * 100 + round as u64);
                    check(
                        ctx,
                        &a,
                        Cumsum::new().axis(round as isize % 2),
                        &format!("thread {t} round {round}"),
                    );
                }
            });
        }
    });
}
