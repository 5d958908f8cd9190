//! The scan family, GPU against CPU and the CPU against a plain sequential fold: random
//! operations, shapes, axes, dtypes, directions, exclusive scans and segments (none, one, one
//! per element, random with empty ones), with every GPU strategy.
//!
//! Integers, bools, max and min are compared bit for bit. Float sums, products and
//! logcumsumexp are compared with a float64 reference within a bound from their evaluation
//! order (see `close`).

mod common;

use common::{canonical_bits, gpu_context_with, shaped, to_f64};
use gpuscan::tolerance::{eps, max_finite, round_to};
use gpuscan::{
    Array, Context, ContextOptions, DType, Device, Order, Scan, ScanOp, Strategy as ScanStrategy,
};
use proptest::prelude::*;

const STRATEGIES: [ScanStrategy; 3] = [
    ScanStrategy::Blelloch,
    ScanStrategy::ReduceThenScan,
    ScanStrategy::Chained,
];

/// How a case restarts its lanes.
#[derive(Copy, Clone, Debug)]
enum Cuts {
    None,
    One,
    PerElement,
    /// Random offsets, empty segments included, from a seed.
    Random(u64),
}

fn offsets(cuts: Cuts, len: usize) -> Option<Vec<i64>> {
    let n = len as i64;
    match cuts {
        Cuts::None => None,
        Cuts::One => Some(vec![0, n]),
        Cuts::PerElement => Some((0..=n).collect()),
        Cuts::Random(seed) => {
            let mut s = seed | 1;
            let mut v = vec![0i64];
            for p in 0..=n {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                // About one offset in five positions, sometimes repeated (an empty segment).
                if s % 5 == 0 {
                    v.push(p);
                    if s % 3 == 0 {
                        v.push(p);
                    }
                }
            }
            v.push(n);
            Some(v)
        }
    }
}

/// Inputs that keep each operation's floats in range: sums of [-100, 100), products of values
/// near 1, logcumsumexp of [-20, 20); NaNs mixed into the NaN-aware operations.
fn input(op: ScanOp, dtype: DType, shape: &[usize], seed: u64) -> Array {
    let a = shaped(dtype, shape, seed);
    if !dtype.is_float() {
        if matches!(op, ScanOp::Prod | ScanOp::NanProd) && dtype != DType::Bool {
            // Products of random integers are soon 0; of ±1 (and 3s, which wrap) they keep
            // every element's contribution visible.
            let v: Vec<i64> = to_f64(&a)
                .iter()
                .map(|&x| [1, -1, 1, 3][(x.abs() as u64 % 4) as usize])
                .collect();
            return Array::from_shape_vec(a.shape(), v).unwrap().astype(dtype);
        }
        return a;
    }
    let x = to_f64(&a);
    let spread = if dtype == DType::Float16 { 0.01 } else { 0.03 };
    let v: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let y = match op {
                ScanOp::Prod | ScanOp::NanProd => 1.0 + spread * x / 100.0,
                ScanOp::LogAddExp => x / 5.0,
                _ => x,
            };
            let nan_aware = matches!(
                op,
                ScanOp::NanSum | ScanOp::NanProd | ScanOp::Max | ScanOp::Min
            );
            if nan_aware && (i as u64 ^ seed).is_multiple_of(37) {
                f64::NAN
            } else {
                y
            }
        })
        .collect();
    Array::from_shape_vec(a.shape(), v).unwrap().astype(dtype)
}

/// The reference of every output element in float64, folded sequentially in scan order
/// within each run: the combined value (sums compensated), the sum of magnitudes (sums), the
/// count of elements combined, and the largest magnitude seen.
struct Reference {
    value: Vec<f64>,
    abs: Vec<f64>,
    count: Vec<usize>,
    scale: Vec<f64>,
}

fn logaddexp(a: f64, b: f64) -> f64 {
    if a == b {
        return a + std::f64::consts::LN_2;
    }
    let d = a - b;
    if d > 0.0 {
        a + (-d).exp().ln_1p()
    } else if d <= 0.0 {
        b + d.exp().ln_1p()
    } else {
        d
    }
}

fn reference(x: &[f64], shape: &[usize], scan: &Scan) -> Reference {
    let (outer, lane, cols) = layout(shape, scan.axis);
    let cuts = scan
        .segments
        .clone()
        .unwrap_or_else(|| vec![0, lane as i64]);
    let n = x.len();
    let mut r = Reference {
        value: vec![0.0; n],
        abs: vec![0.0; n],
        count: vec![0; n],
        scale: vec![0.0; n],
    };
    for o in 0..outer {
        for c in 0..cols {
            for w in cuts.windows(2) {
                let mut pos: Vec<usize> = (w[0] as usize..w[1] as usize).collect();
                if scan.reverse {
                    pos.reverse();
                }
                let (mut acc, mut comp, mut abs, mut k, mut scale) =
                    (None::<f64>, 0.0f64, 0.0f64, 0usize, 0.0f64);
                for p in pos {
                    let i = (o * lane + p) * cols + c;
                    let v = x[i];
                    let before = (acc.map(|a| a + comp), abs, k, scale);
                    let next = match (acc, scan.op) {
                        (None, _) => v,
                        (Some(a), ScanOp::Sum | ScanOp::NanSum) => {
                            let t = a + v;
                            comp += if a.abs() >= v.abs() {
                                (a - t) + v
                            } else {
                                (v - t) + a
                            };
                            t
                        }
                        (Some(a), ScanOp::Prod | ScanOp::NanProd) => a * v,
                        (Some(a), ScanOp::LogAddExp) => logaddexp(a, v),
                        (Some(_), op) => unreachable!("{op} is compared exactly"),
                    };
                    acc = Some(next);
                    abs += v.abs();
                    k += 1;
                    scale = scale.max(v.abs()).max(next.abs());
                    let now = if next.is_finite() { next + comp } else { next };
                    let (value, a, count, s) = if scan.exclusive {
                        before
                    } else {
                        (Some(now), abs, k, scale)
                    };
                    r.value[i] = value.unwrap_or(match scan.op {
                        ScanOp::Prod | ScanOp::NanProd => 1.0,
                        ScanOp::LogAddExp => f64::NEG_INFINITY,
                        _ => 0.0,
                    });
                    r.abs[i] = a;
                    r.count[i] = count;
                    r.scale[i] = s;
                }
            }
        }
    }
    r
}

/// (outer, lane, cols) of a scan of `shape` along `axis` (`None` flattens).
fn layout(shape: &[usize], axis: Option<isize>) -> (usize, usize, usize) {
    let n: usize = shape.iter().product();
    match axis {
        None => (1, n, 1),
        Some(a) => {
            let dims = if shape.is_empty() {
                vec![1]
            } else {
                shape.to_vec()
            };
            let a = a.rem_euclid(dims.len() as isize) as usize;
            (
                dims[..a].iter().product(),
                dims[a],
                dims[a + 1..].iter().product(),
            )
        }
    }
}

/// Whether float `got` is close to the reference of its operation:
/// - sums: docs/NUMPY_SEMANTICS.md section 7, `eps * (16 + sqrt(n))` times the sum of
///   magnitudes;
/// - products: any evaluation order of k factors rounds at most k times, so the relative
///   error stays below `(k + 1) * eps` (the input was cast to the loop dtype already);
/// - logcumsumexp: each step rounds its result by a few ulp (at most 4 from the exp, log1p
///   and final addition) and is 1-Lipschitz in each argument, so errors add but never grow:
///   `(k + 2) * 8 * eps * max(1, the largest magnitude seen)` covers the result's and the
///   float64 reference's own errors.
///
/// Non-finite values must match exactly; elements next to overflow or underflow depend on
/// the order and are skipped.
fn close(got: &Array, x: &[f64], shape: &[usize], scan: &Scan, acc: DType, what: &str) {
    let out = got.dtype();
    let e = eps(acc).max(eps(out));
    let (_, lane, _) = layout(shape, scan.axis);
    let r = reference(x, shape, scan);
    let got = to_f64(got);
    let largest = max_finite(acc).min(max_finite(out));
    for (i, &g) in got.iter().enumerate() {
        let want = round_to(r.value[i], out);
        let k = r.count[i] as f64;
        let tol = match scan.op {
            ScanOp::Sum | ScanOp::NanSum => {
                let tol = e * (16.0 + (lane as f64).sqrt()) * r.abs[i];
                if r.abs[i] * (1.0 + tol) >= largest {
                    continue;
                }
                tol
            }
            ScanOp::Prod | ScanOp::NanProd => {
                let tol = (k + 1.0) * e * want.abs();
                let tiny = if acc == DType::Float16 { 6.2e-5 } else { 1e-30 };
                if want.abs() + tol >= largest || want.abs() < tiny {
                    continue;
                }
                tol
            }
            _ => (k + 2.0) * 8.0 * e * r.scale[i].max(1.0),
        };
        if !want.is_finite() || !g.is_finite() {
            assert!(
                want.to_bits() == g.to_bits() || (want.is_nan() && g.is_nan()),
                "{what}: element {i}: got {g} want {want}"
            );
            continue;
        }
        assert!(
            (g - want).abs() <= tol,
            "{what}: element {i}: got {g} want {want} (tolerance {tol})"
        );
    }
}

/// The input as the scan sees it, in float64: NaN replaced for the nan* scans, then cast to
/// the loop dtype.
fn loaded(a: &Array, op: ScanOp, acc: DType) -> Vec<f64> {
    let replaced = match op {
        ScanOp::NanSum | ScanOp::NanProd if a.dtype().is_float() => {
            let to = if op == ScanOp::NanSum { 0.0 } else { 1.0 };
            let v: Vec<f64> = to_f64(a)
                .into_iter()
                .map(|x| if x.is_nan() { to } else { x })
                .collect();
            Array::from_shape_vec(a.shape(), v)
                .unwrap()
                .astype(a.dtype())
        }
        _ => a.clone(),
    };
    to_f64(&replaced.astype(acc))
}

/// One case: the CPU's exact order against the plain fold (bit for bit where the fold is the
/// same order), then every strategy on the GPU against the CPU.
fn check(ctx: &Context, a: &Array, scan: &Scan, what: &str) {
    let acc = scan.op.loop_dtype(a.dtype(), scan.dtype, None).unwrap();
    let exact = scan.clone().device(Device::Cpu).order(Order::Exact);
    let cpu = ctx.scan(a, &exact).unwrap();
    let fold = ctx.scan(a, &exact.clone().order(Order::Fast)).unwrap();
    let compared_exactly = !acc.is_float() || matches!(scan.op, ScanOp::Max | ScanOp::Min);
    let x = loaded(a, scan.op, acc);
    if compared_exactly {
        assert_eq!(
            canonical_bits(&fold),
            canonical_bits(&cpu),
            "{what} (cpu fast)"
        );
    } else {
        close(
            &cpu,
            &x,
            a.shape(),
            scan,
            acc,
            &format!("{what} (cpu exact)"),
        );
        close(
            &fold,
            &x,
            a.shape(),
            scan,
            acc,
            &format!("{what} (cpu fast)"),
        );
    }
    if !ctx.gpu_dtypes().contains(&acc) {
        return;
    }
    for strategy in STRATEGIES {
        let gpu = ctx
            .scan(a, &scan.clone().device(Device::Gpu).strategy(strategy))
            .unwrap_or_else(|e| panic!("{what} {strategy}: {e}"));
        assert_eq!(gpu.shape(), cpu.shape(), "{what} {strategy}");
        assert_eq!(gpu.dtype(), cpu.dtype(), "{what} {strategy}");
        if compared_exactly {
            assert_eq!(
                canonical_bits(&gpu),
                canonical_bits(&cpu),
                "{what} {strategy}"
            );
        } else {
            close(
                &gpu,
                &x,
                a.shape(),
                scan,
                acc,
                &format!("{what} {strategy}"),
            );
        }
    }
}

/// The sequential fold of the CPU's exact order is numpy's: checked directly on small cases
/// with hand-written results.
#[test]
fn hand_written_cases() {
    let ctx = Context::cpu_only();
    let a = Array::from_vec(vec![3i64, 1, 4, 1, 5, 9, 2, 6]);
    let run = |s: Scan| ctx.scan(&a, &s).unwrap().into_vec::<i64>().unwrap();
    assert_eq!(run(Scan::cumprod()), [3, 3, 12, 12, 60, 540, 1080, 6480]);
    assert_eq!(run(Scan::cummin().reverse(true)), [1, 1, 1, 1, 2, 2, 2, 6]);
    assert_eq!(
        run(Scan::cummax().exclusive(true)),
        [i64::MIN, 3, 3, 4, 4, 5, 9, 9]
    );
    assert_eq!(
        run(Scan::cumsum().segments(vec![0, 0, 2, 2, 5, 8])),
        [3, 4, 4, 5, 10, 9, 11, 17]
    );
    assert_eq!(
        run(Scan::cumsum().reverse(true).segments(vec![0, 2, 8])),
        [4, 1, 27, 23, 22, 17, 8, 6]
    );
    let m = Array::from_shape_vec(&[2, 3], vec![1i32, 2, 3, 4, 5, 6]).unwrap();
    let r = ctx
        .scan(&m, &Scan::cumulative_sum().axis(0).include_initial(true))
        .unwrap();
    assert_eq!(r.shape(), &[3, 3]);
    assert_eq!(r.into_vec::<i64>().unwrap(), [0, 0, 0, 1, 2, 3, 5, 7, 9]);
    let e = ctx.scan(&m, &Scan::cumulative_sum()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "For arrays which have more than one dimension ``axis`` argument is required."
    );
}

fn arb_case() -> impl Strategy<Value = (ScanOp, Vec<usize>, Option<isize>, DType, u64)> {
    let shape = prop_oneof![
        3 => prop::collection::vec(0usize..6, 0..=3),
        1 => prop::collection::vec(1usize..300, 1..=2),
    ];
    let op = prop::sample::select(ScanOp::ALL.to_vec());
    let dtype = prop::sample::select(DType::ALL.to_vec());
    (op, shape, dtype, any::<u64>(), any::<Option<i8>>()).prop_map(
        |(op, shape, dtype, seed, axis)| {
            let ndim = shape.len().max(1) as isize;
            let axis = axis.map(|a| (a as isize).rem_euclid(2 * ndim) - ndim);
            (op, shape, axis, dtype, seed)
        },
    )
}

fn shared_ctx(subgroups: bool) -> Option<&'static Context> {
    type Slot = std::sync::OnceLock<Option<Context>>;
    static CTX: [Slot; 2] = [const { Slot::new() }; 2];
    CTX[usize::from(subgroups)]
        .get_or_init(|| gpu_context_with(ContextOptions::default().subgroups(subgroups)))
        .as_ref()
}

/// 300 cases from a fixed seed, so CI is repeatable; `PROPTEST_CASES=100000
/// PROPTEST_RNG_SEED=$RANDOM` makes a soak run.
fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    let seeded = std::env::var_os("PROPTEST_RNG_SEED").is_some();
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300),
        rng_seed: if seeded {
            default.rng_seed
        } else {
            proptest::test_runner::RngSeed::Fixed(0xFA_411E)
        },
        failure_persistence: None,
        ..default
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_family_on_the_gpu_matches_the_cpu(case in arb_case()) {
        let (op, shape, axis, dtype, seed) = case;
        let subgroups = (seed >> 8) % 2 == 0;
        let Some(ctx) = shared_ctx(subgroups) else { return Ok(()); };
        let a = input(op, dtype, &shape, seed);
        let (_, lane, _) = layout(&shape, axis);
        let cuts = [Cuts::None, Cuts::One, Cuts::PerElement, Cuts::Random(seed >> 20)]
            [((seed >> 12) % 4) as usize];
        let mut scan = Scan::new(op)
            .reverse((seed >> 14) % 2 == 0)
            .exclusive((seed >> 15) % 3 == 0);
        scan.axis = axis;
        scan.segments = offsets(cuts, lane);
        let what = format!(
            "{op} {dtype} {shape:?} axis {axis:?} reverse {} exclusive {} {cuts:?} subgroups {subgroups}",
            scan.reverse, scan.exclusive
        );
        check(ctx, &a, &scan, &what);
    }
}

/// Long lanes cross tiles, levels and chunks: every operation forward and reverse, exclusive,
/// with many segments, on lavapipe's small binding limit.
#[test]
fn long_lanes_cross_tiles_levels_and_chunks() {
    let Some(ctx) = &gpu_context_with(ContextOptions::default().max_binding_bytes(1 << 16)) else {
        return;
    };
    let n = 70_001;
    for op in ScanOp::ALL {
        for dtype in [DType::Float32, DType::Int32] {
            for (reverse, exclusive, cuts) in [
                (false, false, Cuts::None),
                (true, false, Cuts::None),
                (false, true, Cuts::Random(3)),
                (true, true, Cuts::Random(5)),
            ] {
                let a = input(op, dtype, &[n], 11);
                let mut scan = Scan::new(op).reverse(reverse).exclusive(exclusive);
                scan.segments = offsets(cuts, n);
                let what =
                    format!("{op} {dtype} n {n} reverse {reverse} exclusive {exclusive} {cuts:?}");
                check(ctx, &a, &scan, &what);
                let m = input(op, dtype, &[7, 10_001], 11);
                let mut down = scan.clone().axis(0);
                down.segments = offsets(cuts, 7);
                check(ctx, &m, &down, &format!("{what} (7, 10001) axis 0"));
            }
        }
    }
}

/// docs/SCAN_FAMILY.md section 1, row by row, on the CPU and on the GPU.
#[test]
fn numpy_tables() {
    let gpu = shared_ctx(true);
    let contexts: Vec<(&Context, Device)> = std::iter::once((&*CPU, Device::Cpu))
        .chain(gpu.map(|g| (g, Device::Gpu)))
        .collect();
    let f64s = |a: &Array| to_f64(&a.astype(DType::Float64));
    for (ctx, device) in contexts {
        let on = |s: Scan| s.device(device);
        let what = |w: &str| format!("{w} on {device:?}");
        // Result dtypes with no dtype= or out=.
        let b = Array::from_vec(vec![true, false, true]);
        for (scan, dtype) in [
            (Scan::cumsum(), DType::Int64),
            (Scan::cumprod(), DType::Int64),
            (Scan::cummax(), DType::Bool),
            (Scan::logcumsumexp(), DType::Float16),
        ] {
            let r = ctx.scan(&b, &on(scan.clone())).unwrap();
            assert_eq!(r.dtype(), dtype, "{}", what(scan.op.name()));
        }
        // dtype=bool: a running OR and AND.
        let r = ctx
            .scan(&b, &on(Scan::cumprod().dtype(DType::Bool)))
            .unwrap();
        assert_eq!(r.into_vec::<bool>().unwrap(), [true, false, false]);
        // out= computes in result_type(out, a); dtype= beats out.
        let a = Array::from_vec(vec![16i8, 16, 16]);
        let mut out = Array::zeros(DType::Float32, &[3]).unwrap();
        ctx.scan_into(&a, &mut out, &on(Scan::cumprod())).unwrap();
        assert_eq!(out.into_vec::<f32>().unwrap(), [16.0, 256.0, 4096.0]);
        let ones = Array::from_vec(vec![half::f16::ONE; 3000]);
        let mut out = Array::zeros(DType::Float32, &[3000]).unwrap();
        ctx.scan_into(&ones, &mut out, &on(Scan::cumsum())).unwrap();
        assert_eq!(
            out.as_slice::<f32>().unwrap()[2999],
            3000.0,
            "{}",
            what("f16 out f32")
        );
        if device == Device::Cpu {
            // numpy's sequential float16 sum stalls at 2048 (the GPU's tree does not).
            ctx.scan_into(
                &ones,
                &mut out,
                &on(Scan::cumsum().dtype(DType::Float16)).order(Order::Exact),
            )
            .unwrap();
            assert_eq!(out.as_slice::<f32>().unwrap()[2999], 2048.0);
        }
        // Integer products wrap.
        let r = ctx
            .scan(&Array::from_vec(vec![i64::MIN, -1]), &on(Scan::cumprod()))
            .unwrap();
        assert_eq!(r.into_vec::<i64>().unwrap(), [i64::MIN, i64::MIN]);
        let r = ctx
            .scan(
                &Array::from_vec(vec![16u8, 16, 3]),
                &on(Scan::cumprod().dtype(DType::UInt8)),
            )
            .unwrap();
        assert_eq!(r.into_vec::<u8>().unwrap(), [16, 0, 0]);
        // float16 overflow, then inf * 0.
        let h = Array::from_vec(vec![300.0f32, 300.0, 0.0]).astype(DType::Float16);
        let r = f64s(&ctx.scan(&h, &on(Scan::cumprod())).unwrap());
        assert_eq!(r[..2], [300.0, f64::INFINITY]);
        assert!(r[2].is_nan(), "{}", what("f16 inf * 0"));
        // nan* scans: NaN as +0 and 1; inf + -inf is still NaN; all-NaN gives zeros and ones.
        let r = ctx
            .scan(
                &Array::from_vec(vec![f64::NAN, -0.0]),
                &on(Scan::nancumsum()),
            )
            .unwrap();
        let bits: Vec<u64> = r
            .into_vec::<f64>()
            .unwrap()
            .iter()
            .map(|x| x.to_bits())
            .collect();
        assert_eq!(bits, [0, 0], "{}", what("nancumsum [nan, -0.0]"));
        let r = f64s(
            &ctx.scan(
                &Array::from_vec(vec![f64::INFINITY, f64::NAN, f64::NEG_INFINITY]),
                &on(Scan::nancumsum()),
            )
            .unwrap(),
        );
        assert!(r[0] == f64::INFINITY && r[1] == f64::INFINITY && r[2].is_nan());
        let nans = Array::from_vec(vec![f32::NAN; 4]);
        assert_eq!(
            f64s(&ctx.scan(&nans, &on(Scan::nancumsum())).unwrap()),
            [0.0; 4]
        );
        assert_eq!(
            f64s(&ctx.scan(&nans, &on(Scan::nancumprod())).unwrap()),
            [1.0; 4]
        );
        // cummax: NaN propagates, the first NaN's bits stick.
        let (p, q) = (f32::from_bits(0x7fc0_0001), f32::from_bits(0x7fc0_0002));
        let x = Array::from_vec(vec![1.0f32, p, 5.0, q]);
        let r = ctx
            .scan(&x, &on(Scan::cummax()))
            .unwrap()
            .into_vec::<f32>()
            .unwrap();
        let bits: Vec<u32> = r.iter().map(|x| x.to_bits()).collect();
        assert_eq!(
            bits,
            [1.0f32.to_bits(), p.to_bits(), p.to_bits(), p.to_bits()]
        );
        // logaddexp's special values.
        let inf = f64::INFINITY;
        for (pair, want) in [([inf, inf], inf), ([-inf, -inf], -inf), ([inf, -inf], inf)] {
            let r = f64s(
                &ctx.scan(&Array::from_vec(pair.to_vec()), &on(Scan::logcumsumexp()))
                    .unwrap(),
            );
            assert_eq!(r[1], want, "{}", what(&format!("logaddexp {pair:?}")));
        }
        let r = f64s(
            &ctx.scan(
                &Array::from_vec(vec![f64::NAN, 1.0]),
                &on(Scan::logcumsumexp()),
            )
            .unwrap(),
        );
        assert!(r[1].is_nan());
        let r = f64s(
            &ctx.scan(
                &Array::from_vec(vec![2.0f64, 2.0]),
                &on(Scan::logcumsumexp()),
            )
            .unwrap(),
        );
        assert_eq!(r[1], 2.0 + std::f64::consts::LN_2);
        // include_initial: the identity prepended, not folded in.
        let r = ctx
            .scan(
                &Array::from_vec(vec![-0.0f64]),
                &on(Scan::cumulative_sum().include_initial(true)),
            )
            .unwrap();
        let bits: Vec<u64> = r
            .into_vec::<f64>()
            .unwrap()
            .iter()
            .map(|x| x.to_bits())
            .collect();
        assert_eq!(bits, [0, (-0.0f64).to_bits()]);
        let r = f64s(
            &ctx.scan(
                &Array::from_vec(vec![f64::NAN, 1.0]),
                &on(Scan::cumulative_sum().include_initial(true)),
            )
            .unwrap(),
        );
        assert!(r[0] == 0.0 && r[1].is_nan() && r[2].is_nan());
        let five = Array::from_shape_vec(&[], vec![5i32]).unwrap();
        let r = ctx
            .scan(&five, &on(Scan::cumulative_prod().include_initial(true)))
            .unwrap();
        assert_eq!(r.into_vec::<i64>().unwrap(), [1, 5]);
        let empty = Array::from_vec(Vec::<f32>::new());
        let r = ctx
            .scan(&empty, &on(Scan::cumulative_sum().include_initial(true)))
            .unwrap();
        assert_eq!(r.shape(), &[1]);
    }
}

static CPU: std::sync::LazyLock<Context> = std::sync::LazyLock::new(Context::cpu_only);

/// Every bad input is a typed error that names the problem, and `out` is left untouched.
#[test]
fn bad_input_is_an_error() {
    let ctx = &*CPU;
    let a = Array::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0]);
    for (offsets, text) in [
        (vec![1, 5], "must start at 0"),
        (vec![0, 4], "must end at the axis length 5"),
        (vec![0, 3, 2, 5], "decrease"),
        (vec![], "empty"),
    ] {
        let e = ctx.scan(&a, &Scan::cumsum().segments(offsets)).unwrap_err();
        assert!(e.to_string().contains(text), "{e}");
    }
    let m = Array::from_shape_vec(&[2, 2], vec![0i64, 1, 2, 3]).unwrap();
    let e = Scan::cumsum().segments_array(&m).unwrap_err();
    assert!(e.to_string().contains("1-D"), "{e}");
    let e = Scan::cumsum().segments_array(&a).unwrap_err();
    assert!(e.to_string().contains("integers"), "{e}");
    let e = ctx
        .scan(&a, &Scan::logcumsumexp().dtype(DType::Int32))
        .unwrap_err();
    assert!(e.to_string().contains("no int32 loop"), "{e}");
    let e = ctx
        .scan(
            &a,
            &Scan::cumulative_sum().include_initial(true).reverse(true),
        )
        .unwrap_err();
    assert!(e.to_string().contains("include_initial"), "{e}");
    let e = ctx.scan_indices(&a, &Scan::cumsum()).unwrap_err();
    assert!(e.to_string().contains("cummax and cummin"), "{e}");
    // A wrong out shape leaves out untouched (include_initial grows the axis).
    let mut out = Array::from_vec(vec![7.0f64; 5]);
    let e = ctx
        .scan_into(&a, &mut out, &Scan::cumulative_sum().include_initial(true))
        .unwrap_err();
    assert!(matches!(e, gpuscan::Error::OutShape { .. }), "{e}");
    assert_eq!(out.into_vec::<f64>().unwrap(), [7.0; 5]);
}
