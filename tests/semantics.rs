mod common;

// numpy.cumsum's semantics, docs/NUMPY_SEMANTICS.md sections 1-5, as tables of cases. Every case
// runs on `Device::Cpu` (bit for bit numpy's numbers) and on `Device::Gpu`: exact where every
// partial sum is exactly representable (ints, bools, integer-valued floats, NaN/inf patterns,
// signed zeros, subnormal multiples); where numpy's numbers come from sequential rounding
// (float16 stalling at 2048, float32 at 2**24) the GPU, which sums in a tree order, is instead
// checked against the float64 reference within section 7's tolerance.

use std::sync::OnceLock;

use common::{assert_close_to_reference, bits, round_to, to_f64};
use gpuscan::plan::Geometry;
use gpuscan::{Array, Context, Cumsum, DType, Device, Element, Error, Order};
use half::f16;

use DType::{
    Bool, Float16, Float32, Float64, Int16, Int32, Int64, Int8, UInt16, UInt32, UInt64, UInt8,
};

const P24: f64 = 16_777_216.0; // 2**24
const P53: f64 = 9_007_199_254_740_992.0; // 2**53

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn cpu() -> &'static Context {
    static CPU: OnceLock<Context> = OnceLock::new();
    CPU.get_or_init(Context::cpu_only)
}

/// One GPU context for the whole file (it caches the compiled pipelines); `None` only where
/// `GPUSCAN_GPU_OPTIONAL=1` allows running without an adapter.
fn gpu() -> Option<&'static Context> {
    static GPU: OnceLock<Option<Context>> = OnceLock::new();
    GPU.get_or_init(common::gpu_context).as_ref()
}

/// How the GPU half of a case is judged.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum OnGpu {
    /// Bit for bit numpy's numbers (any NaN matches a NaN).
    Exact,
    /// numpy's numbers depend on sequential rounding: within tolerance of the float64 reference.
    Close,
}
use OnGpu::{Close, Exact};

/// An array of `dtype` from f64 values (numpy-style casts: bool is `x != 0`).
fn make(dtype: DType, shape: &[usize], v: &[f64]) -> Array {
    fn typed<T: Element>(shape: &[usize], v: Vec<T>) -> Array {
        Array::from_shape_vec(shape, v).unwrap()
    }
    let it = v.iter().copied();
    match dtype {
        Bool => typed(shape, it.map(|x| x != 0.0).collect()),
        Int8 => typed(shape, it.map(|x| x as i8).collect()),
        Int16 => typed(shape, it.map(|x| x as i16).collect()),
        Int32 => typed(shape, it.map(|x| x as i32).collect()),
        Int64 => typed(shape, it.map(|x| x as i64).collect()),
        UInt8 => typed(shape, it.map(|x| x as u8).collect()),
        UInt16 => typed(shape, it.map(|x| x as u16).collect()),
        UInt32 => typed(shape, it.map(|x| x as u32).collect()),
        UInt64 => typed(shape, it.map(|x| x as u64).collect()),
        Float16 => typed(shape, it.map(f16::from_f64).collect()),
        Float32 => typed(shape, it.map(|x| x as f32).collect()),
        Float64 => typed(shape, it.collect()),
        d => panic!("unhandled dtype {d}"),
    }
}

/// A 1-D array of `dtype`.
fn arr(dtype: DType, v: &[f64]) -> Array {
    make(dtype, &[v.len()], v)
}

/// An `out` filled with a sentinel, to see whether anything was written.
fn sentinel(dtype: DType, shape: &[usize]) -> Array {
    let n = shape.iter().product();
    make(dtype, shape, &vec![77.0; n])
}

/// Options with a given axis (`None` flattens).
fn opts(axis: Option<isize>) -> Cumsum {
    let mut o = Cumsum::new();
    o.axis = axis;
    o
}

/// Same dtype, shape and bit patterns (a NaN matches any NaN).
fn assert_same(what: &str, got: &Array, want: &Array) {
    assert_eq!(got.dtype(), want.dtype(), "{what}: dtype");
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let (gb, wb) = (bits(got), bits(want));
    let (gf, wf) = (to_f64(got), to_f64(want));
    let float = want.dtype().is_float();
    let bad =
        (0..wb.len()).find(|&i| gb[i] != wb[i] && !(float && wf[i].is_nan() && gf[i].is_nan()));
    if let Some(i) = bad {
        let whole = if wb.len() <= 40 {
            format!("\n got  {got}\n want {want}")
        } else {
            String::new()
        };
        panic!(
            "{what}: element {i}: got {} (bits {:#x}), want {} (bits {:#x}){whole}",
            gf[i], gb[i], wf[i], wb[i]
        );
    }
}

/// Within section 7's tolerance of the float64 reference of `a` accumulated in `acc`.
fn assert_close(what: &str, got: &Array, a: &Array, axis: Option<isize>, acc: DType, want: &Array) {
    assert_eq!(got.dtype(), want.dtype(), "{what}: dtype");
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let (g, _) = Geometry::resolve(a.shape(), axis).unwrap();
    // Every input used with `Close` is exactly representable in `acc`, so this is the cast.
    let x: Vec<f64> = to_f64(a).into_iter().map(|v| round_to(v, acc)).collect();
    assert_close_to_reference(got, &x, &g, acc, what);
}

/// The GPU result, or `None` (after checking the error says so) when the adapter cannot
/// accumulate in `acc`.
fn gpu_result<T>(ctx: &Context, acc: DType, what: &str, r: Result<T, Error>) -> Option<T> {
    if !ctx.gpu_dtypes().contains(&acc) {
        assert!(
            matches!(r, Err(Error::MissingFeature { .. })),
            "{what}: the adapter lacks {acc} but the GPU call did not say so"
        );
        eprintln!("{what}: the adapter cannot accumulate {acc}; GPU half skipped");
        return None;
    }
    Some(r.unwrap_or_else(|e| panic!("{what}: {e}")))
}

/// `np.cumsum(a, axis, dtype)` on the CPU (bit-exact) and the GPU (as `on_gpu` says).
fn check(what: &str, a: &Array, o: Cumsum, want: &Array, on_gpu: OnGpu) {
    let got = cpu()
        .cumsum(a, &o.device(Device::Cpu))
        .unwrap_or_else(|e| panic!("{what} [cpu]: {e}"));
    assert_same(&format!("{what} [cpu]"), &got, want);
    let Some(ctx) = gpu() else { return };
    let what = format!("{what} [gpu]");
    let acc = o.dtype.unwrap_or_else(|| a.dtype().cumsum_default());
    let Some(got) = gpu_result(ctx, acc, &what, ctx.cumsum(a, &o.device(Device::Gpu))) else {
        return;
    };
    match on_gpu {
        Exact => assert_same(&what, &got, want),
        Close => assert_close(&what, &got, a, o.axis, acc, want),
    }
}

/// `np.cumsum(a, axis, dtype, out=out)` with `out` of `want`'s dtype and shape.
fn check_into(what: &str, a: &Array, o: Cumsum, want: &Array, on_gpu: OnGpu) {
    let run = |ctx: &Context, device: Device| {
        let mut out = sentinel(want.dtype(), want.shape());
        ctx.cumsum_into(a, &mut out, &o.device(device))
            .map(|()| out)
    };
    let got = run(cpu(), Device::Cpu).unwrap_or_else(|e| panic!("{what} [cpu]: {e}"));
    assert_same(&format!("{what} [cpu]"), &got, want);
    let Some(ctx) = gpu() else { return };
    let what = format!("{what} [gpu]");
    let acc = o
        .dtype
        .unwrap_or_else(|| DType::result_type(want.dtype(), a.dtype()));
    let Some(got) = gpu_result(ctx, acc, &what, run(ctx, Device::Gpu)) else {
        return;
    };
    match on_gpu {
        Exact => assert_same(&what, &got, want),
        Close => assert_close(&what, &got, a, o.axis, acc, want),
    }
}

/// The contexts and devices every error case runs on.
fn error_runs() -> Vec<(&'static str, &'static Context, Device)> {
    let mut runs = vec![("cpu", cpu(), Device::Cpu)];
    if let Some(ctx) = gpu() {
        runs.push(("gpu", ctx, Device::Gpu));
    }
    runs
}

/// Checks that `np.cumsum(a, ...)` fails with `message` on both devices, and that a
/// sentinel-filled `out` (when given) is left bit for bit untouched.
fn check_err(
    what: &str,
    a: &Array,
    o: Cumsum,
    out: Option<(DType, &[usize])>,
    expect: fn(&Error) -> bool,
    message: &str,
) {
    for (name, ctx, device) in error_runs() {
        let what = format!("{what} [{name}]");
        let err = match out {
            None => ctx.cumsum(a, &o.device(device)).map(|_| ()),
            Some((dtype, shape)) => {
                let mut out = sentinel(dtype, shape);
                let before = bits(&out);
                let r = ctx.cumsum_into(a, &mut out, &o.device(device));
                assert_eq!(bits(&out), before, "{what}: out was written");
                assert_eq!(out.shape(), shape, "{what}: out changed shape");
                r
            }
        }
        .expect_err(&what);
        assert!(expect(&err), "{what}: unexpected error {err:?}");
        assert!(
            err.to_string().starts_with(message),
            "{what}: message {:?} does not start with {message:?}",
            err.to_string()
        );
    }
}

fn is_axis_error(e: &Error) -> bool {
    matches!(e, Error::AxisOutOfBounds { .. })
}

fn is_out_shape(e: &Error) -> bool {
    matches!(e, Error::OutShape { .. })
}

/// Sequential cumsum along `axis` of a C-ordered i64 array (the expected values of a table).
fn naive_cumsum(shape: &[usize], x: &[i64], axis: usize) -> Vec<i64> {
    let stride: usize = shape[axis + 1..].iter().product();
    let len = shape[axis];
    let mut out = x.to_vec();
    for i in 0..x.len() {
        if !(i / stride).is_multiple_of(len) {
            out[i] = out[i - stride].wrapping_add(x[i]);
        }
    }
    out
}

/// Deterministic uniform values in [0, 1).
fn uniform(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Seed examples
// ---------------------------------------------------------------------------------------------

#[test]
fn seed_examples_print_like_numpy() {
    let a = Array::from_vec(vec![5i64, 6, 7, 8, 9, 10, 11, 12, 19, 25]);
    let m = Array::from_shape_vec(&[4, 3], vec![1i64, 4, 0, 7, 0, 9, 5, 0, 3, 12, 0, 5]).unwrap();
    let m32 = Array::from_shape_vec(&[4, 3], vec![1i32, 4, 0, 7, 0, 9, 5, 0, 3, 12, 0, 5]).unwrap();
    let mut runs = vec![("cpu", cpu(), Device::Cpu)];
    if let Some(ctx) = gpu().filter(|c| c.gpu_dtypes().contains(&Int64)) {
        runs.push(("gpu", ctx, Device::Gpu));
    }
    for (name, ctx, device) in runs {
        let r = ctx.cumsum(&a, &Cumsum::new().device(device)).unwrap();
        assert_eq!(
            r.to_string(),
            "[  5  11  18  26  35  45  56  68  87 112]",
            "{name}"
        );
        assert_eq!(r.shape(), &[10], "{name}");
        assert_eq!(
            r.as_slice::<i64>().unwrap(),
            &[5, 11, 18, 26, 35, 45, 56, 68, 87, 112],
            "{name}"
        );
        for input in [&m, &m32] {
            let r = ctx
                .cumsum(input, &Cumsum::new().axis(1).device(device))
                .unwrap();
            assert_eq!(
                r.to_string(),
                "[[ 1  5  5]\n [ 7  7 16]\n [ 5  5  8]\n [12 12 17]]",
                "{name} {}",
                input.dtype()
            );
            assert_eq!(r.shape(), &[4, 3], "{name}");
            assert_eq!(
                r.as_slice::<i64>().unwrap(),
                &[1, 5, 5, 7, 7, 16, 5, 5, 8, 12, 12, 17],
                "{name}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Section 1: result dtype with dtype=None
// ---------------------------------------------------------------------------------------------

#[test]
fn section1_result_dtype_promotion_table() {
    let table = [
        (Bool, Int64),
        (Int8, Int64),
        (Int16, Int64),
        (Int32, Int64),
        (Int64, Int64),
        (UInt8, UInt64),
        (UInt16, UInt64),
        (UInt32, UInt64),
        (UInt64, UInt64),
        (Float16, Float16),
        (Float32, Float32),
        (Float64, Float64),
    ];
    let x = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0];
    let sums = [1.0, 1.0, 2.0, 3.0, 3.0, 4.0];
    for (input, result) in table {
        assert_eq!(input.cumsum_default(), result, "{input}");
        check(
            &format!("{input} -> {result}"),
            &arr(input, &x),
            Cumsum::new(),
            &arr(result, &sums),
            Exact,
        );
        // Same promotion along an axis of a 2-D array.
        check(
            &format!("{input} -> {result}, 2-D axis 0"),
            &make(input, &[3, 2], &x),
            Cumsum::new().axis(0),
            &make(result, &[3, 2], &[1.0, 0.0, 2.0, 1.0, 2.0, 2.0]),
            Exact,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Section 2: shapes and axes
// ---------------------------------------------------------------------------------------------

#[test]
fn section2_axis_none_flattens_in_c_order() {
    let m = make(Int32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    check(
        "(2,3) axis None",
        &m,
        Cumsum::new(),
        &arr(Int64, &[1.0, 3.0, 6.0, 10.0, 15.0, 21.0]),
        Exact,
    );
    check(
        "(2,3) flatten()",
        &m,
        Cumsum::new().axis(1).flatten(),
        &arr(Int64, &[1.0, 3.0, 6.0, 10.0, 15.0, 21.0]),
        Exact,
    );
    let x: Vec<i64> = (0..24).collect();
    let a = Array::from_shape_vec(&[2, 3, 4], x.clone()).unwrap();
    let want = Array::from_vec(naive_cumsum(&[24], &x, 0));
    check("(2,3,4) axis None", &a, Cumsum::new(), &want, Exact);
    let f = make(Float32, &[2, 2], &[0.5, 1.0, 2.0, 4.0]);
    check(
        "(2,2) float32 axis None",
        &f,
        Cumsum::new(),
        &arr(Float32, &[0.5, 1.5, 3.5, 7.5]),
        Exact,
    );
    // 1-D: axis None equals axis 0.
    let v = arr(Int16, &[3.0, -1.0, 4.0, -1.0, 5.0]);
    let want = arr(Int64, &[3.0, 2.0, 6.0, 5.0, 10.0]);
    check("1-D axis None", &v, Cumsum::new(), &want, Exact);
    check("1-D axis 0", &v, Cumsum::new().axis(0), &want, Exact);
    check("1-D axis -1", &v, Cumsum::new().axis(-1), &want, Exact);
}

#[test]
fn section2_axes_and_negative_axes() {
    let shape = [2usize, 3, 4];
    let x: Vec<i64> = (0..24).map(|i| (i * 7 % 11) - 5).collect();
    let a = Array::from_shape_vec(&shape, x.clone()).unwrap();
    for (axis, norm) in [(0isize, 0usize), (1, 1), (2, 2), (-3, 0), (-2, 1), (-1, 2)] {
        let want = Array::from_shape_vec(&shape, naive_cumsum(&shape, &x, norm)).unwrap();
        check(
            &format!("(2,3,4) axis {axis}"),
            &a,
            Cumsum::new().axis(axis),
            &want,
            Exact,
        );
    }
    // Hand-checked: axis -3 of arange(24).reshape(2,3,4) adds the two blocks.
    let r: Vec<i64> = (0..24).collect();
    let ar = Array::from_shape_vec(&shape, r).unwrap();
    let got = cpu()
        .cumsum(&ar, &Cumsum::new().axis(-3).device(Device::Cpu))
        .unwrap();
    let s = got.as_slice::<i64>().unwrap();
    assert_eq!(&s[..4], &[0, 1, 2, 3]);
    assert_eq!(&s[12..16], &[12, 14, 16, 18]);
    // Float lanes stay independent.
    let f = make(Float64, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    check(
        "(2,3) float64 axis -2",
        &f,
        Cumsum::new().axis(-2),
        &make(Float64, &[2, 3], &[1.0, 2.0, 3.0, 5.0, 7.0, 9.0]),
        Exact,
    );
    check(
        "(2,3) float64 axis -1",
        &f,
        Cumsum::new().axis(-1),
        &make(Float64, &[2, 3], &[1.0, 3.0, 6.0, 4.0, 9.0, 15.0]),
        Exact,
    );
}

#[test]
fn section2_zero_d_is_one_d_of_length_one() {
    let f = Array::from_shape_vec(&[], vec![3.0f32]).unwrap();
    let i = Array::from_shape_vec(&[], vec![5i32]).unwrap();
    let b = Array::from_shape_vec(&[], vec![true]).unwrap();
    assert_eq!(f.shape(), &[] as &[usize]);
    for axis in [None, Some(0), Some(-1)] {
        let o = opts(axis);
        check(
            &format!("0-d float32 {axis:?}"),
            &f,
            o,
            &arr(Float32, &[3.0]),
            Exact,
        );
        check(
            &format!("0-d int32 {axis:?}"),
            &i,
            o,
            &arr(Int64, &[5.0]),
            Exact,
        );
        check(
            &format!("0-d bool {axis:?}"),
            &b,
            o,
            &arr(Int64, &[1.0]),
            Exact,
        );
    }
    check_err(
        "0-d axis 1",
        &f,
        Cumsum::new().axis(1),
        None,
        is_axis_error,
        "axis 1 is out of bounds for array of dimension 1",
    );
    check_err(
        "0-d axis -2",
        &i,
        Cumsum::new().axis(-2),
        None,
        is_axis_error,
        "axis -2 is out of bounds for array of dimension 1",
    );
    let err = cpu()
        .cumsum(&f, &Cumsum::new().axis(1).device(Device::Cpu))
        .unwrap_err();
    assert!(
        matches!(err, Error::AxisOutOfBounds { axis: 1, ndim: 1 }),
        "{err:?}"
    );
}

#[test]
fn section2_axis_error_messages() {
    let a = Array::from_shape_vec(&[2, 3, 4], vec![1.0f64; 24]).unwrap();
    let cases: [(isize, &str); 4] = [
        (3, "axis 3 is out of bounds for array of dimension 3"),
        (-4, "axis -4 is out of bounds for array of dimension 3"),
        (7, "axis 7 is out of bounds for array of dimension 3"),
        (-9, "axis -9 is out of bounds for array of dimension 3"),
    ];
    for (axis, message) in cases {
        check_err(
            &format!("axis {axis}"),
            &a,
            Cumsum::new().axis(axis),
            None,
            is_axis_error,
            message,
        );
        // Exactly numpy's text, nothing appended.
        let err = cpu()
            .cumsum(&a, &Cumsum::new().axis(axis).device(Device::Cpu))
            .unwrap_err();
        assert_eq!(err.to_string(), message);
        assert!(matches!(err, Error::AxisOutOfBounds { axis: x, ndim: 3 } if x == axis));
        // With out given, out stays untouched.
        check_err(
            &format!("axis {axis} with out"),
            &a,
            Cumsum::new().axis(axis),
            Some((Float64, &[2, 3, 4])),
            is_axis_error,
            message,
        );
    }
}

#[test]
fn section2_empty_shapes() {
    // (input dtype, input shape, axis, result dtype, result shape)
    type Case = (
        DType,
        &'static [usize],
        Option<isize>,
        DType,
        &'static [usize],
    );
    let cases: [Case; 12] = [
        (Bool, &[0], None, Int64, &[0]),
        (Bool, &[0], Some(0), Int64, &[0]),
        (Float32, &[0], Some(-1), Float32, &[0]),
        (UInt8, &[0], None, UInt64, &[0]),
        (Int32, &[3, 0], Some(0), Int64, &[3, 0]),
        (Int32, &[3, 0], Some(1), Int64, &[3, 0]),
        (Int32, &[3, 0], None, Int64, &[0]),
        (Float64, &[0, 3], Some(0), Float64, &[0, 3]),
        (Float64, &[0, 3], Some(1), Float64, &[0, 3]),
        (Float64, &[0, 3], None, Float64, &[0]),
        (Int64, &[2, 0, 4], Some(-1), Int64, &[2, 0, 4]),
        (Float32, &[2, 0, 4], Some(1), Float32, &[2, 0, 4]),
    ];
    for (input, shape, axis, result, result_shape) in cases {
        let what = format!("empty {input} {shape:?} axis {axis:?}");
        let a = make(input, shape, &[]);
        check(
            &what,
            &a,
            opts(axis),
            &make(result, result_shape, &[]),
            Exact,
        );
        check_into(
            &format!("{what} out="),
            &a,
            opts(axis),
            &make(result, result_shape, &[]),
            Exact,
        );
    }
    check_err(
        "(0,3) axis 2",
        &make(Float64, &[0, 3], &[]),
        Cumsum::new().axis(2),
        None,
        is_axis_error,
        "axis 2 is out of bounds for array of dimension 2",
    );
    check_err(
        "(0,) axis 1",
        &make(Int32, &[0], &[]),
        Cumsum::new().axis(1),
        None,
        is_axis_error,
        "axis 1 is out of bounds for array of dimension 1",
    );
}

// ---------------------------------------------------------------------------------------------
// Section 3: dtype=
// ---------------------------------------------------------------------------------------------

#[test]
fn section3_dtype_casts_every_element_first() {
    // cumsum(x32, dtype=f64) == cumsum(x32.astype(f64)) and cumsum(x64, dtype=f32) ==
    // cumsum(x64.astype(f32)), bit for bit on each device.
    let u = uniform(1000, 3);
    let x32 = arr(Float32, &u);
    let x32_as_64 = arr(Float64, &to_f64(&x32));
    let x64 = arr(Float64, &u);
    let x64_as_32 = arr(Float32, &u);
    let mut runs = vec![("cpu", cpu(), Device::Cpu)];
    if let Some(ctx) = gpu() {
        runs.push(("gpu", ctx, Device::Gpu));
    }
    for (name, ctx, device) in runs {
        if device == Device::Gpu && !ctx.gpu_dtypes().contains(&Float64) {
            continue;
        }
        let a = ctx
            .cumsum(&x32, &Cumsum::new().dtype(Float64).device(device))
            .unwrap();
        let b = ctx
            .cumsum(&x32_as_64, &Cumsum::new().device(device))
            .unwrap();
        assert_same(&format!("f32 dtype=f64 [{name}]"), &a, &b);
        let a = ctx
            .cumsum(&x64, &Cumsum::new().dtype(Float32).device(device))
            .unwrap();
        let b = ctx
            .cumsum(&x64_as_32, &Cumsum::new().device(device))
            .unwrap();
        assert_same(&format!("f64 dtype=f32 [{name}]"), &a, &b);
    }
    // The float32 values widen exactly, and these float64 partial sums are exact.
    let (a, b, c) = (0.1f32 as f64, 0.2f32 as f64, 0.3f32 as f64);
    check(
        "float32 [.1,.2,.3] dtype=float64",
        &arr(Float32, &[0.1, 0.2, 0.3]),
        Cumsum::new().dtype(Float64),
        &arr(Float64, &[a, a + b, a + b + c]),
        Exact,
    );
    assert_eq!(a + b + c, 0.600_000_016_391_277_3);
}

#[test]
fn section3_dtype_float_to_int_truncates() {
    let x = [0.6, 1.7, -2.9, 3.5];
    for input in [Float64, Float32, Float16] {
        check(
            &format!("{input} [0.6,1.7,-2.9,3.5] dtype=int32"),
            &arr(input, &x),
            Cumsum::new().dtype(Int32),
            &arr(Int32, &[0.0, 1.0, -1.0, 2.0]),
            Exact,
        );
        check(
            &format!("{input} [0.6,1.7,-2.9,3.5] dtype=int64"),
            &arr(input, &x),
            Cumsum::new().dtype(Int64),
            &arr(Int64, &[0.0, 1.0, -1.0, 2.0]),
            Exact,
        );
    }
    // float in [0, 256) with dtype=uint8 truncates, then the sum wraps.
    check(
        "[200.7,100.2,10.9] dtype=uint8",
        &arr(Float64, &[200.7, 100.2, 10.9]),
        Cumsum::new().dtype(UInt8),
        &arr(UInt8, &[200.0, 44.0, 54.0]),
        Exact,
    );
}

#[test]
fn section3_dtype_bool_is_logical_or() {
    let t = |v: &[bool]| Array::from_vec(v.to_vec());
    let cases: Vec<(&str, Array, Array)> = vec![
        (
            "[0.,.5,0.]",
            arr(Float64, &[0.0, 0.5, 0.0]),
            t(&[false, true, true]),
        ),
        (
            "[0,2,-2,0]",
            arr(Int64, &[0.0, 2.0, -2.0, 0.0]),
            t(&[false, true, true, true]),
        ),
        ("[nan]", arr(Float64, &[f64::NAN]), t(&[true])),
        (
            "[0,nan,0]",
            arr(Float32, &[0.0, f64::NAN, 0.0]),
            t(&[false, true, true]),
        ),
        ("[-0.,-0.]", arr(Float64, &[-0.0, -0.0]), t(&[false, false])),
        (
            "[-0.,-0.,1]",
            arr(Float16, &[-0.0, -0.0, 1.0]),
            t(&[false, false, true]),
        ),
        (
            "bool [F,T,F]",
            t(&[false, true, false]),
            t(&[false, true, true]),
        ),
        (
            "uint8 [0,0,0]",
            arr(UInt8, &[0.0, 0.0, 0.0]),
            t(&[false, false, false]),
        ),
        (
            "int8 [0,-1,0]",
            arr(Int8, &[0.0, -1.0, 0.0]),
            t(&[false, true, true]),
        ),
    ];
    for (what, a, want) in cases {
        check(
            &format!("{what} dtype=bool"),
            &a,
            Cumsum::new().dtype(Bool),
            &want,
            Exact,
        );
    }
    // Long enough to cross GPU tiles: a single True at 3000 turns everything after it on.
    let n = 5000;
    let mut v = vec![0.0; n];
    v[3000] = -0.5;
    let want: Vec<bool> = (0..n).map(|i| i >= 3000).collect();
    check(
        "5000 with one nonzero dtype=bool",
        &arr(Float64, &v),
        Cumsum::new().dtype(Bool),
        &Array::from_vec(want),
        Exact,
    );
}

#[test]
fn section3_dtype_int_to_float() {
    let big = (1u64 << 40) as f64;
    check(
        "int64 [1,2,3,2**40] dtype=float32",
        &Array::from_vec(vec![1i64, 2, 3, 1 << 40]),
        Cumsum::new().dtype(Float32),
        &arr(Float32, &[1.0, 3.0, 6.0, big]),
        Exact,
    );
    assert_eq!((big + 6.0) as f32, big as f32);
    // bool*3000 dtype=float16 stalls at 2048 (sequential float16 rounding).
    let ones = Array::from_vec(vec![true; 3000]);
    let stalls: Vec<f64> = (1..=3000).map(|i| (i.min(2048)) as f64).collect();
    check(
        "bool*3000 dtype=float16",
        &ones,
        Cumsum::new().dtype(Float16),
        &arr(Float16, &stalls),
        Close,
    );
    let exact: Vec<f64> = (1..=3000).map(|i| i as f64).collect();
    check(
        "bool*3000 dtype=float32",
        &ones,
        Cumsum::new().dtype(Float32),
        &arr(Float32, &exact),
        Exact,
    );
}

#[test]
fn section3_dtype_narrow_ints_wrap() {
    check(
        "[100,100,100] dtype=int8",
        &Array::from_vec(vec![100i64, 100, 100]),
        Cumsum::new().dtype(Int8),
        &arr(Int8, &[100.0, -56.0, 44.0]),
        Exact,
    );
    check(
        "int8 [-1,2,3] dtype=uint8",
        &Array::from_vec(vec![-1i8, 2, 3]),
        Cumsum::new().dtype(UInt8),
        &arr(UInt8, &[255.0, 1.0, 4.0]),
        Exact,
    );
    let wraps: Vec<i8> = (1..=300).map(|i: i32| i as u8 as i8).collect();
    assert_eq!(wraps[127], -128);
    check(
        "bool*300 dtype=int8",
        &Array::from_vec(vec![true; 300]),
        Cumsum::new().dtype(Int8),
        &Array::from_vec(wraps),
        Exact,
    );
    let wraps16: Vec<i16> = (1..=40_000).map(|i: i32| i as u16 as i16).collect();
    check(
        "bool*40000 dtype=int16",
        &Array::from_vec(vec![true; 40_000]),
        Cumsum::new().dtype(Int16),
        &Array::from_vec(wraps16),
        Exact,
    );
    check(
        "int64 [300,-300,1] dtype=uint16",
        &Array::from_vec(vec![300i64, -300, 1]),
        Cumsum::new().dtype(UInt16),
        &arr(UInt16, &[300.0, 0.0, 1.0]),
        Exact,
    );
    check(
        "int64 [-1,-1] dtype=uint32",
        &Array::from_vec(vec![-1i64, -1]),
        Cumsum::new().dtype(UInt32),
        &Array::from_vec(vec![u32::MAX, u32::MAX - 1]),
        Exact,
    );
}

#[test]
fn section3_dtype_sets_accumulation_precision() {
    let h = arr(Float16, &[2048.0, 1.0, 1.0]);
    check(
        "float16 [2048,1,1] default",
        &h,
        Cumsum::new(),
        &arr(Float16, &[2048.0, 2048.0, 2048.0]),
        Close,
    );
    check(
        "float16 [2048,1,1] dtype=float32",
        &h,
        Cumsum::new().dtype(Float32),
        &arr(Float32, &[2048.0, 2049.0, 2050.0]),
        Exact,
    );
    let s = arr(Float32, &[P24, 1.0, 1.0, 1.0]);
    check(
        "float32 [2**24,1,1,1] default",
        &s,
        Cumsum::new(),
        &arr(Float32, &[P24; 4]),
        Close,
    );
    check(
        "float32 [2**24,1,1,1] dtype=float64",
        &s,
        Cumsum::new().dtype(Float64),
        &arr(Float64, &[P24, P24 + 1.0, P24 + 2.0, P24 + 3.0]),
        Exact,
    );
}

// ---------------------------------------------------------------------------------------------
// Section 4: out=
// ---------------------------------------------------------------------------------------------

#[test]
fn section4_out_wrong_shape_errors_and_leaves_out_untouched() {
    let v = arr(Float32, &[1.0, 2.0, 3.0]);
    let m = make(Int32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let message = "provided out is the wrong size for the accumulation";
    // (what, input, axis, out shape, out dtype)
    type Case<'a> = (&'a str, &'a Array, Option<isize>, &'a [usize], DType);
    let cases: [Case; 11] = [
        ("(3,) into (3,1)", &v, None, &[3, 1], Float32),
        ("(3,) into (1,3)", &v, None, &[1, 3], Float64),
        ("(3,) into (2,)", &v, None, &[2], Int32),
        ("(3,) into (4,)", &v, Some(0), &[4], Float32),
        ("(3,) into ()", &v, None, &[], Float32),
        ("(2,3) axis None into (2,3)", &m, None, &[2, 3], Int64),
        ("(2,3) axis None into (3,2)", &m, None, &[3, 2], Int16),
        ("(2,3) axis 0 into (6,)", &m, Some(0), &[6], Int64),
        ("(2,3) axis 1 into (3,2)", &m, Some(1), &[3, 2], Float64),
        (
            "(2,3) axis -1 into (2,3,1)",
            &m,
            Some(-1),
            &[2, 3, 1],
            UInt8,
        ),
        ("(2,3) axis 0 into (0,)", &m, Some(0), &[0], Bool),
    ];
    for (what, a, axis, shape, dtype) in cases {
        check_err(
            what,
            a,
            opts(axis),
            Some((dtype, shape)),
            is_out_shape,
            message,
        );
    }
    // The shape checks name both shapes.
    let mut out = sentinel(Float32, &[3, 1]);
    let err = cpu().cumsum_into(&v, &mut out, &Cumsum::new()).unwrap_err();
    assert!(
        matches!(&err, Error::OutShape { out, expected } if out == &[3, 1] && expected == &[3]),
        "{err:?}"
    );
    // The right shape works for axis None of a 2-D input.
    check_into(
        "(2,3) axis None into (6,)",
        &m,
        Cumsum::new(),
        &arr(Int64, &[1.0, 3.0, 6.0, 10.0, 15.0, 21.0]),
        Exact,
    );
}

#[test]
fn section4_out_accumulates_in_result_type() {
    let s = arr(Float32, &[P24, 1.0, 1.0, 1.0]);
    check_into(
        "float32 [2**24,1,1,1] out float64",
        &s,
        Cumsum::new(),
        &arr(Float64, &[P24, P24 + 1.0, P24 + 2.0, P24 + 3.0]),
        Exact,
    );
    check_into(
        "float32 [0.5]*4 out int32",
        &arr(Float32, &[0.5; 4]),
        Cumsum::new(),
        &arr(Int32, &[0.0, 1.0, 1.0, 2.0]),
        Exact,
    );
    let stalls: Vec<f64> = (1..=3000).map(|i| (i.min(2048)) as f64).collect();
    check_into(
        "int8 ones*3000 out float16",
        &Array::from_vec(vec![1i8; 3000]),
        Cumsum::new(),
        &arr(Float16, &stalls),
        Close,
    );
    check_into(
        "int32 [2**31-1,1] out int32",
        &Array::from_vec(vec![i32::MAX, 1]),
        Cumsum::new(),
        &Array::from_vec(vec![i32::MAX, i32::MIN]),
        Exact,
    );
    let p53 = P53 as u64;
    check_into(
        "uint64 [2**53,1,1] out int64",
        &Array::from_vec(vec![p53, 1, 1]),
        Cumsum::new(),
        &Array::from_vec(vec![p53 as i64; 3]),
        Close,
    );
    check_into(
        "int64 [2**53,1,1] out uint64",
        &Array::from_vec(vec![p53 as i64, 1, 1]),
        Cumsum::new(),
        &Array::from_vec(vec![p53; 3]),
        Close,
    );
    check_into(
        "int64 [2**53,1,1] out int64",
        &Array::from_vec(vec![p53 as i64, 1, 1]),
        Cumsum::new(),
        &Array::from_vec(vec![p53 as i64, p53 as i64 + 1, p53 as i64 + 2]),
        Exact,
    );
    check_into(
        "float32 [2**24,1,1,1] dtype=float32 out float64",
        &s,
        Cumsum::new().dtype(Float32),
        &arr(Float64, &[P24; 4]),
        Close,
    );
    // No casting error for any dtype mismatch.
    check_into(
        "int64 [100,100,100] out int8",
        &Array::from_vec(vec![100i64, 100, 100]),
        Cumsum::new(),
        &arr(Int8, &[100.0, -56.0, 44.0]),
        Exact,
    );
    check_into(
        "float64 [1.5,1.5,4.25] out uint8: sums in float64, then casts (not 1,2,6)",
        &arr(Float64, &[1.5, 1.5, 4.25]),
        Cumsum::new(),
        &arr(UInt8, &[1.0, 3.0, 7.0]),
        Exact,
    );
    check_into(
        "int32 (2,3) axis 1 out float32",
        &make(Int32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        Cumsum::new().axis(1),
        &make(Float32, &[2, 3], &[1.0, 3.0, 6.0, 4.0, 9.0, 15.0]),
        Exact,
    );
    check_into(
        "bool out bool",
        &Array::from_vec(vec![false, true, false]),
        Cumsum::new(),
        &Array::from_vec(vec![false, true, true]),
        Exact,
    );
}

// ---------------------------------------------------------------------------------------------
// Section 5: special values, overflow, rounding
// ---------------------------------------------------------------------------------------------

#[test]
fn section5_nan_and_inf_propagate() {
    let (nan, inf) = (f64::NAN, f64::INFINITY);
    for d in [Float16, Float32, Float64] {
        check(
            &format!("{d} [1,nan,2,3]"),
            &arr(d, &[1.0, nan, 2.0, 3.0]),
            Cumsum::new(),
            &arr(d, &[1.0, nan, nan, nan]),
            Exact,
        );
        check(
            &format!("{d} [1,inf,2,-inf,5]"),
            &arr(d, &[1.0, inf, 2.0, -inf, 5.0]),
            Cumsum::new(),
            &arr(d, &[1.0, inf, inf, nan, nan]),
            Exact,
        );
        // NaN stays inside its lane.
        let m = make(d, &[2, 2], &[1.0, nan, 2.0, 3.0]);
        check(
            &format!("{d} [[1,nan],[2,3]] axis 0"),
            &m,
            Cumsum::new().axis(0),
            &make(d, &[2, 2], &[1.0, nan, 3.0, nan]),
            Exact,
        );
        check(
            &format!("{d} [[1,nan],[2,3]] axis 1"),
            &m,
            Cumsum::new().axis(1),
            &make(d, &[2, 2], &[1.0, nan, 2.0, 5.0]),
            Exact,
        );
        // Across GPU tiles: a NaN at 1500 of 5000, and +inf at 10 then -inf at 4000.
        let n = 5000;
        let mut v: Vec<f64> = (0..n).map(|i| (i % 3) as f64).collect();
        v[1500] = nan;
        let mut want = Vec::with_capacity(n);
        let mut acc = 0.0;
        for &x in &v {
            acc += x;
            want.push(acc);
        }
        check(
            &format!("{d} NaN at 1500 of 5000"),
            &arr(d, &v),
            Cumsum::new(),
            &arr(d, &want),
            Exact,
        );
        let mut v = vec![1.0; n];
        v[10] = inf;
        v[4000] = -inf;
        let want: Vec<f64> = (0..n)
            .map(|i| match i {
                0..=9 => (i + 1) as f64,
                10..=3999 => inf,
                _ => nan,
            })
            .collect();
        check(
            &format!("{d} inf at 10, -inf at 4000 of 5000"),
            &arr(d, &v),
            Cumsum::new(),
            &arr(d, &want),
            Exact,
        );
    }
}

#[test]
fn section5_float_overflow_sticks_at_inf() {
    let inf = f64::INFINITY;
    let big = 3e38f32 as f64;
    // Three elements: on the GPU they are one invocation's sequential loop, so exact there too.
    check(
        "float32 [3e38,3e38,-3e38]",
        &arr(Float32, &[big, big, -big]),
        Cumsum::new(),
        &arr(Float32, &[big, inf, inf]),
        Exact,
    );
    check(
        "float16 [60000,60000,-60000]",
        &arr(Float16, &[60000.0, 60000.0, -60000.0]),
        Cumsum::new(),
        &arr(Float16, &[60000.0, inf, inf]),
        Exact,
    );
    // A wider dtype= does not overflow.
    check(
        "float16 [60000,60000,-60000] dtype=float32",
        &arr(Float16, &[60000.0, 60000.0, -60000.0]),
        Cumsum::new().dtype(Float32),
        &arr(Float32, &[60000.0, 120000.0, 60000.0]),
        Exact,
    );
}

#[test]
fn section5_first_element_is_copied_signed_zeros() {
    let z = -0.0;
    let cases: [(&[f64], &[f64]); 4] = [
        (&[z], &[z]),
        (&[z, z], &[z, z]),
        (&[z, 1.0, -1.0, z], &[z, 1.0, 0.0, 0.0]),
        (&[z, z, z, z, z, z, z], &[z, z, z, z, z, z, z]),
    ];
    for d in [Float16, Float32, Float64] {
        for (x, want) in cases {
            check(
                &format!("{d} {x:?}"),
                &arr(d, x),
                Cumsum::new(),
                &arr(d, want),
                Exact,
            );
        }
        // Lanes of a 2-D array each copy their first element.
        let m = make(d, &[3, 2], &[z; 6]);
        for axis in [0, 1] {
            check(
                &format!("{d} (3,2) of -0.0 axis {axis}"),
                &m,
                Cumsum::new().axis(axis),
                &make(d, &[3, 2], &[z; 6]),
                Exact,
            );
        }
        // dtype= keeps the sign of the first element.
        check(
            &format!("{d} [-0.0] dtype=float64"),
            &arr(d, &[z]),
            Cumsum::new().dtype(Float64),
            &arr(Float64, &[z]),
            Exact,
        );
    }
    // Bit patterns, not just values: -0.0 and +0.0 differ.
    let r = cpu()
        .cumsum(
            &arr(Float64, &[z, 1.0, -1.0, z]),
            &Cumsum::new().device(Device::Cpu),
        )
        .unwrap();
    assert_eq!(bits(&r), vec![(-0.0f64).to_bits(), 1f64.to_bits(), 0, 0]);
}

#[test]
fn section5_long_negative_zero_stays_negative_on_gpu() {
    for d in [Float16, Float32, Float64] {
        for n in [5000usize, 1025, 4096] {
            let x = vec![-0.0; n];
            check(
                &format!("{d} {n} x -0.0"),
                &arr(d, &x),
                Cumsum::new(),
                &arr(d, &x),
                Exact,
            );
        }
        // Many lanes of -0.0 along axis 0 (columns side by side) and along the last axis.
        let m = make(d, &[1200, 5], &[-0.0; 6000]);
        for axis in [0, 1] {
            check(
                &format!("{d} (1200,5) -0.0 axis {axis}"),
                &m,
                Cumsum::new().axis(axis),
                &m,
                Exact,
            );
        }
    }
}

#[test]
fn section5_subnormals_are_kept() {
    let f32_sub = f32::from_bits(1) as f64; // 1e-45 in float32
    check(
        "float32 [1e-45,1e-45]",
        &arr(Float32, &[1e-45, 1e-45]),
        Cumsum::new(),
        &Array::from_vec(vec![f32::from_bits(1), f32::from_bits(2)]),
        Exact,
    );
    assert_eq!(1e-45f32.to_bits(), 1);
    check(
        "float64 [5e-324]*3",
        &arr(Float64, &[5e-324; 3]),
        Cumsum::new(),
        &Array::from_vec(vec![
            f64::from_bits(1),
            f64::from_bits(2),
            f64::from_bits(3),
        ]),
        Exact,
    );
    check(
        "float16 smallest subnormal * 3",
        &Array::from_vec(vec![f16::from_bits(1); 3]),
        Cumsum::new(),
        &Array::from_vec(vec![
            f16::from_bits(1),
            f16::from_bits(2),
            f16::from_bits(3),
        ]),
        Exact,
    );
    // Across GPU tiles: multiples of the smallest subnormal are exact in any order.
    let n = 5000u32;
    check(
        "float32 5000 x 1e-45",
        &arr(Float32, &vec![f32_sub; n as usize]),
        Cumsum::new(),
        &Array::from_vec((1..=n).map(f32::from_bits).collect::<Vec<_>>()),
        Exact,
    );
    check(
        "float64 5000 x 5e-324",
        &arr(Float64, &vec![5e-324; n as usize]),
        Cumsum::new(),
        &Array::from_vec((1..=n as u64).map(f64::from_bits).collect::<Vec<_>>()),
        Exact,
    );
}

#[test]
fn section5_integer_overflow_wraps() {
    check(
        "int64 [2**63-1,1]",
        &Array::from_vec(vec![i64::MAX, 1]),
        Cumsum::new(),
        &Array::from_vec(vec![i64::MAX, i64::MIN]),
        Exact,
    );
    check(
        "uint64 [2**64-1,2]",
        &Array::from_vec(vec![u64::MAX, 2]),
        Cumsum::new(),
        &Array::from_vec(vec![u64::MAX, 1u64]),
        Exact,
    );
    check(
        "int32 [2**31-1,1,1] dtype=int32",
        &Array::from_vec(vec![i32::MAX, 1, 1]),
        Cumsum::new().dtype(Int32),
        &Array::from_vec(vec![2147483647i32, -2147483648, -2147483647]),
        Exact,
    );
    check(
        "uint8 [200,100,10] dtype=uint8",
        &Array::from_vec(vec![200u8, 100, 10]),
        Cumsum::new().dtype(UInt8),
        &Array::from_vec(vec![200u8, 44, 54]),
        Exact,
    );
    check(
        "uint32 [2**32-1,1] dtype=uint32",
        &Array::from_vec(vec![u32::MAX, 1]),
        Cumsum::new().dtype(UInt32),
        &Array::from_vec(vec![u32::MAX, 0]),
        Exact,
    );
    // Without dtype=, int32 input accumulates in int64 and cannot overflow.
    check(
        "int32 [2**31-1,1,1] default",
        &Array::from_vec(vec![i32::MAX, 1, 1]),
        Cumsum::new(),
        &Array::from_vec(vec![2147483647i64, 2147483648, 2147483649]),
        Exact,
    );
    check(
        "uint8 [200,100,10] default",
        &Array::from_vec(vec![200u8, 100, 10]),
        Cumsum::new(),
        &Array::from_vec(vec![200u64, 300, 310]),
        Exact,
    );
    // Wrapping across GPU tiles: 5000 x 2**62 in int64.
    let q = 1i64 << 62;
    let want: Vec<i64> = (1..=5000i64).map(|k| q.wrapping_mul(k)).collect();
    check(
        "int64 5000 x 2**62",
        &Array::from_vec(vec![q; 5000]),
        Cumsum::new(),
        &Array::from_vec(want),
        Exact,
    );
}

#[test]
fn section5_float16_rounds_every_partial_sum() {
    // Bit-equal to `acc = f16(acc + x[i])`; 5000 uniform [0, 1) values stall at 2048.
    let x: Vec<f64> = uniform(5000, 7)
        .into_iter()
        .map(|u| f16::from_f64(u).to_f64())
        .collect();
    let a = arr(Float16, &x);
    let mut acc = f16::from_f64(x[0]);
    let mut want = vec![acc];
    for &v in &x[1..] {
        acc = f16::from_f64(acc.to_f64() + v);
        want.push(acc);
    }
    assert_eq!(want[4999].to_f64(), 2048.0);
    check(
        "float16 5000 uniform",
        &a,
        Cumsum::new(),
        &Array::from_vec(want),
        Close,
    );
}

#[test]
fn section5_float32_float64_strictly_sequential() {
    let u = uniform(100_000, 11);
    // float32: a Python-style loop.
    let x32: Vec<f32> = u.iter().map(|&v| v as f32).collect();
    let mut acc = x32[0];
    let mut want32 = vec![acc];
    for &v in &x32[1..] {
        acc += v;
        want32.push(acc);
    }
    // float64 likewise.
    let mut acc = u[0];
    let mut want64 = vec![acc];
    for &v in &u[1..] {
        acc += v;
        want64.push(acc);
    }
    // numpy's order is `Order::Exact`, bit for bit; the default blocked order of such long lanes
    // and the GPU's tree order are held to the float64 reference instead.
    let sequential = |what: &str, a: &Array, want: &Array| {
        let exact = cpu().cumsum(a, &Cumsum::new().order(Order::Exact)).unwrap();
        assert_same(&format!("{what} [cpu exact]"), &exact, want);
        let acc = a.dtype();
        let fast = cpu().cumsum(a, &Cumsum::new()).unwrap();
        assert_close(&format!("{what} [cpu fast]"), &fast, a, None, acc, want);
        if let Some(g) = gpu() {
            let r = g.cumsum(a, &Cumsum::new().device(Device::Gpu)).unwrap();
            assert_close(&format!("{what} [gpu]"), &r, a, None, acc, want);
            let err = g.cumsum(a, &Cumsum::new().device(Device::Gpu).order(Order::Exact));
            assert!(
                matches!(err, Err(Error::InvalidArgument(_))),
                "exact order on the GPU"
            );
        }
    };
    sequential(
        "float32 1e5 uniform",
        &Array::from_vec(x32.clone()),
        &Array::from_vec(want32),
    );
    sequential(
        "float64 1e5 uniform",
        &arr(Float64, &u),
        &Array::from_vec(want64),
    );
    // axis=0 of a 2-D float32 array equals the 1-D cumsum of each column.
    let (rows, cols) = (2000, 7);
    let m = Array::from_shape_vec(&[rows, cols], x32[..rows * cols].to_vec()).unwrap();
    let mut want = x32[..rows * cols].to_vec();
    for r in 1..rows {
        for c in 0..cols {
            want[r * cols + c] += want[(r - 1) * cols + c];
        }
    }
    check(
        "float32 (2000,7) axis 0",
        &m,
        Cumsum::new().axis(0),
        &Array::from_shape_vec(&[rows, cols], want).unwrap(),
        Close,
    );
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn errors_gpu_on_cpu_only_context_is_no_adapter() {
    let ctx = Context::cpu_only();
    assert!(!ctx.has_gpu());
    let a = arr(Float32, &[1.0, 2.0, 3.0]);
    let err = ctx
        .cumsum(&a, &Cumsum::new().device(Device::Gpu))
        .unwrap_err();
    assert!(matches!(err, Error::NoAdapter(_)), "{err:?}");
    let mut out = sentinel(Float64, &[3]);
    let before = bits(&out);
    let err = ctx
        .cumsum_into(&a, &mut out, &Cumsum::new().device(Device::Gpu))
        .unwrap_err();
    assert!(matches!(err, Error::NoAdapter(_)), "{err:?}");
    assert_eq!(bits(&out), before, "out was written");
    let err = ctx.upload(&a).unwrap_err();
    assert!(matches!(err, Error::NoAdapter(_)), "{err:?}");
    // Auto falls back to the CPU.
    let r = ctx.cumsum(&a, &Cumsum::new().device(Device::Auto)).unwrap();
    assert_eq!(r.as_slice::<f32>().unwrap(), &[1.0, 3.0, 6.0]);
}

#[test]
fn errors_unknown_dtype_name() {
    let err = "bogus".parse::<DType>().unwrap_err();
    assert!(
        matches!(&err, Error::UnknownDType(s) if s == "bogus"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "unsupported dtype 'bogus': gpuscan handles bool, int8..int64, uint8..uint64, float16, \
         float32, float64"
    );
    for d in DType::ALL {
        assert_eq!(d.name().parse::<DType>().unwrap(), d);
    }
}

#[test]
fn errors_shape_mismatch() {
    let err = Array::from_shape_vec(&[2, 2], vec![1i32, 2, 3]).unwrap_err();
    assert!(
        matches!(&err, Error::ShapeMismatch { shape, expected: 4, actual: 3 } if shape == &[2, 2]),
        "{err:?}"
    );
    let err = Array::from_shape_vec(&[], vec![1.0f32, 2.0]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShapeMismatch {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Resident arrays
// ---------------------------------------------------------------------------------------------

/// The GPU context when it can hold `dtype`.
fn gpu_holding(dtype: DType) -> Option<&'static Context> {
    let ctx = gpu()?;
    if !ctx.gpu_dtypes().contains(&dtype) {
        eprintln!("the adapter cannot hold {dtype}; skipped");
        return None;
    }
    Some(ctx)
}

fn resident_inputs() -> Vec<Array> {
    let ints: Vec<f64> = (0..12).map(|i| ((i * 5) % 7) as f64 - 3.0).collect();
    let halves: Vec<f64> = (0..12).map(|i| ((i * 3) % 5) as f64 * 0.5 - 1.0).collect();
    vec![make(Int32, &[3, 4], &ints), make(Float32, &[3, 4], &halves)]
}

#[test]
fn resident_upload_cumsum_download_matches_cpu() {
    for a in resident_inputs() {
        let acc = a.dtype().cumsum_default();
        let Some(ctx) = gpu_holding(acc) else {
            continue;
        };
        let g = ctx.upload(&a).unwrap();
        assert_eq!(g.dtype(), acc, "an int32 array is stored as int64");
        assert_eq!(g.shape(), &[3, 4]);
        for axis in [Some(0), Some(1), Some(-1), Some(-2), None] {
            let what = format!("resident {} axis {axis:?}", a.dtype());
            let r = ctx.cumsum_gpu(&g, axis).unwrap();
            let got = ctx.download(&r).unwrap();
            let want = cpu().cumsum(&a, &opts(axis).device(Device::Cpu)).unwrap();
            assert_same(&what, &got, &want);
        }
        // The source stays as uploaded.
        let back = ctx.download(&g).unwrap();
        assert_eq!(back.dtype(), acc);
        assert_eq!(to_f64(&back), to_f64(&a), "upload/download round trip");
        // Axis errors as for host arrays.
        let err = ctx.cumsum_gpu(&g, Some(2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "axis 2 is out of bounds for array of dimension 2"
        );
    }
}

#[test]
fn resident_record_cumsum_in_place_in_callers_encoder() {
    for a in resident_inputs() {
        let acc = a.dtype().cumsum_default();
        let Some(ctx) = gpu_holding(acc) else {
            continue;
        };
        for axis in [Some(0), Some(1)] {
            let g = ctx.upload(&a).unwrap();
            let device = ctx.device().unwrap();
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("semantics test encoder"),
            });
            ctx.record_cumsum(&mut encoder, &g, &g, axis).unwrap();
            ctx.queue().unwrap().submit([encoder.finish()]);
            let got = ctx.download(&g).unwrap();
            let want = cpu().cumsum(&a, &opts(axis).device(Device::Cpu)).unwrap();
            assert_same(
                &format!("in place {} axis {axis:?}", a.dtype()),
                &got,
                &want,
            );
        }
        // Into a separate destination, twice in one encoder (the second scans the first's output).
        let g = ctx.upload(&a).unwrap();
        let once = ctx.gpu_zeros(acc, &[3, 4]).unwrap();
        let twice = ctx.gpu_zeros(acc, &[3, 4]).unwrap();
        let mut encoder = ctx
            .device()
            .unwrap()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        ctx.record_cumsum(&mut encoder, &g, &once, Some(1)).unwrap();
        ctx.record_cumsum(&mut encoder, &once, &twice, Some(1))
            .unwrap();
        ctx.queue().unwrap().submit([encoder.finish()]);
        let want1 = cpu()
            .cumsum(&a, &Cumsum::new().axis(1).device(Device::Cpu))
            .unwrap();
        let want2 = cpu()
            .cumsum(&want1, &Cumsum::new().axis(1).device(Device::Cpu))
            .unwrap();
        assert_same("record once", &ctx.download(&once).unwrap(), &want1);
        assert_same("record twice", &ctx.download(&twice).unwrap(), &want2);
    }
}

#[test]
fn resident_record_cumsum_wrong_dst_shape() {
    for a in resident_inputs() {
        let acc = a.dtype().cumsum_default();
        let Some(ctx) = gpu_holding(acc) else {
            continue;
        };
        let g = ctx.upload(&a).unwrap();
        let cases: [(&[usize], Option<isize>); 4] = [
            (&[4, 3], Some(1)),
            (&[12], Some(0)),
            (&[3, 4], None),
            (&[3, 4, 1], Some(-1)),
        ];
        for (shape, axis) in cases {
            let dst = ctx.gpu_zeros(acc, shape).unwrap();
            let mut encoder = ctx
                .device()
                .unwrap()
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            let err = ctx.record_cumsum(&mut encoder, &g, &dst, axis).unwrap_err();
            assert!(
                matches!(err, Error::OutShape { .. }),
                "{shape:?} {axis:?}: {err:?}"
            );
            assert!(err
                .to_string()
                .starts_with("provided out is the wrong size for the accumulation"));
            ctx.queue().unwrap().submit([encoder.finish()]);
            // The destination was not written.
            let back = ctx.download(&dst).unwrap();
            assert!(
                to_f64(&back).iter().all(|&v| v == 0.0),
                "{shape:?} {axis:?}: dst written"
            );
        }
    }
}

#[test]
fn cumsum_owned_matches_cumsum() {
    let ctxs = [Some(cpu()), gpu()];
    for ctx in ctxs.into_iter().flatten() {
        for dtype in [Int64, Int32, Float32, Bool] {
            let a = make(
                dtype,
                &[3, 4],
                &[1.0, 2.0, 0.0, 4.0, 5.0, -6.0, 7.0, 8.0, 9.0, 0.0, 1.0, 2.0],
            );
            for axis in [None, Some(0), Some(-1)] {
                let want = ctx.cumsum(&a, &opts(axis)).unwrap();
                let got = ctx.cumsum_owned(a.clone(), &opts(axis)).unwrap();
                assert_same(&format!("{dtype} axis {axis:?}"), &got, &want);
            }
        }
        let err = ctx
            .cumsum_owned(arr(Int64, &[1.0]), &opts(Some(1)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "axis 1 is out of bounds for array of dimension 1"
        );
    }
}

/// The wide order rounds the exact prefix sums once: numpy's
/// `cumsum(x, dtype=float64).astype(float32)`, on the CPU and the GPU alike.
#[test]
fn wide_order_rounds_once() {
    let cases = [
        // 2**24 + 1 ties to 2**24, 2**24 + 3 ties to 2**24 + 4 (round half to even).
        (
            Float32,
            vec![P24, 1.0, 1.0, 1.0],
            vec![P24, P24, P24 + 2.0, P24 + 4.0],
        ),
        // float16 sums in float32: 2049 ties to 2048, 2050 is exact.
        (
            Float16,
            vec![2048.0, 1.0, 1.0],
            vec![2048.0, 2048.0, 2050.0],
        ),
        // float64 is unaffected.
        (
            Float64,
            vec![0.1, 0.2, 0.3],
            vec![0.1, 0.1 + 0.2, 0.1 + 0.2 + 0.3],
        ),
    ];
    for (dtype, x, want) in cases {
        let a = arr(dtype, &x);
        let want = arr(dtype, &want);
        let wide = Cumsum::new().order(Order::Wide);
        let got = cpu().cumsum(&a, &wide).unwrap();
        assert_same(&format!("{dtype} wide [cpu]"), &got, &want);
        if let Some(g) = gpu() {
            let got = g.cumsum(&a, &wide.device(Device::Gpu)).unwrap();
            assert_same(&format!("{dtype} wide [gpu]"), &got, &want);
        }
    }
    // dtype= still casts every element first: int32 70000 is inf in float16, even when the
    // sum runs in float32.
    let a = arr(Int32, &[70000.0, -70000.0]);
    let want = arr(Float16, &[f64::INFINITY, f64::NAN]);
    let wide16 = Cumsum::new().order(Order::Wide).dtype(Float16);
    let got = cpu().cumsum(&a, &wide16).unwrap();
    assert_same("int32 as float16, wide [cpu]", &got, &want);
    if let Some(g) = gpu() {
        let got = g.cumsum(&a, &wide16.device(Device::Gpu)).unwrap();
        assert_same("int32 as float16, wide [gpu]", &got, &want);
    }
}

/// The wide order's float16 sums are the float32 scan of the same values rounded once, bit
/// for bit, through every entry point, along either axis and in either direction (along the
/// last axis the CPU widens as it goes; along others it scans a float32 copy).
#[test]
fn wide_float16_is_a_float32_scan_rounded_once() {
    let ctx = cpu();
    let n = 13 * 1000;
    let x: Vec<f16> = (0..n)
        .map(|i| f16::from_f32(((i * 7919) % 1000) as f32 / 250.0 - 1.5))
        .collect();
    let x32: Vec<f32> = x.iter().map(|h| h.to_f32()).collect();
    for (shape, axis) in [(vec![n], 0), (vec![13, 1000], 1), (vec![13, 1000], 0)] {
        for reverse in [false, true] {
            let scan = gpuscan::Scan::cumsum()
                .axis(axis)
                .reverse(reverse)
                .device(Device::Cpu);
            let a = Array::from_shape_vec(&shape, x.clone()).unwrap();
            let a32 = Array::from_shape_vec(&shape, x32.clone()).unwrap();
            let want = ctx.scan(&a32, &scan).unwrap();
            let want: Vec<u16> = want
                .as_slice::<f32>()
                .unwrap()
                .iter()
                .map(|&v| f16::from_f32(v).to_bits())
                .collect();
            let wide = scan.order(Order::Wide);
            let got = ctx.scan(&a, &wide).unwrap();
            let mut into = Array::from_shape_vec(&shape, vec![f16::ZERO; n]).unwrap();
            ctx.scan_into(&a, &mut into, &wide).unwrap();
            let owned = ctx.scan_owned(a.clone(), &wide).unwrap();
            for (how, r) in [("scan", &got), ("scan_into", &into), ("scan_owned", &owned)] {
                let r: Vec<u16> = r
                    .as_slice::<f16>()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect();
                assert!(r == want, "{how} {shape:?} axis {axis} reverse {reverse}");
            }
        }
    }
}
