//! The typed ndarray API (`ScanExt`, `Promote`): every operation against `Context::scan` on
//! the same data, every layout, `out=`, inference and the promotion table.
#![cfg(feature = "ndarray")]

use gpuscan::ndarray::{
    array, s, Array as NdArray, Array1, Array2, Array3, ArrayD, ArrayRef, Axis, Dimension, IxDyn,
    ShapeBuilder,
};
use gpuscan::{Array, Context, DType, Device, Element, Error, Promote, Scan, ScanExt, ScanOp};
use half::f16;

fn ctx() -> Context {
    Context::new().expect("a context (CPU at least)")
}

/// Equal shapes and elements, NaN equal to NaN.
fn assert_same<R: Element, D: Dimension, E: Dimension>(
    got: &NdArray<R, D>,
    want: &NdArray<R, E>,
    what: &str,
) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (x, y)) in got.iter().zip(want.iter()).enumerate() {
        #[allow(clippy::eq_op)]
        let both_nan = x != x && y != y;
        assert!(x == y || both_nan, "{what}: element {i}: {x:?} != {y:?}");
    }
}

/// `Context::scan` of a logical-order copy of `a`, as an `ArrayD<R>`.
fn reference<T: Element, R: Element, D: Dimension>(
    ctx: &Context,
    a: &ArrayRef<T, D>,
    scan: &Scan,
) -> ArrayD<R> {
    ctx.scan(&Array::from(a), scan)
        .unwrap()
        .into_ndarray::<R>()
        .unwrap()
}

/// Every typed method of every operation, along every axis and flattened, on `a`, against
/// `Context::scan`.
fn every_op<T: Promote, D: Dimension>(ctx: &Context, a: &ArrayRef<T, D>, what: &str) {
    macro_rules! op {
        ($axis:ident, $flat:ident, $ctor:ident, $r:ty) => {
            for k in 0..a.ndim() {
                let got = a.$axis(ctx, Axis(k)).unwrap();
                assert!(got.is_standard_layout());
                let want = reference::<T, $r, D>(ctx, a, &Scan::$ctor().axis(k));
                assert_same(
                    &got,
                    &want,
                    &format!("{what}: {} axis {k}", stringify!($axis)),
                );
            }
            let got: Array1<$r> = a.$flat(ctx).unwrap();
            let want = reference::<T, $r, D>(ctx, a, &Scan::$ctor());
            assert_same(&got, &want, &format!("{what}: {}", stringify!($flat)));
        };
    }
    op!(cumsum_axis, cumsum_flat, cumsum, T::Sum);
    op!(cumprod_axis, cumprod_flat, cumprod, T::Sum);
    op!(nancumsum_axis, nancumsum_flat, nancumsum, T::Sum);
    op!(nancumprod_axis, nancumprod_flat, nancumprod, T::Sum);
    op!(cummax_axis, cummax_flat, cummax, T);
    op!(cummin_axis, cummin_flat, cummin, T);
    op!(logcumsumexp_axis, logcumsumexp_flat, logcumsumexp, T::Log);
}

fn f64_grid() -> Array2<f64> {
    NdArray::from_shape_fn((6, 5), |(i, j)| {
        if (i, j) == (2, 3) {
            f64::NAN
        } else {
            ((i * 5 + j) as f64 * 0.37).sin() * 3.0
        }
    })
}

fn i32_grid() -> Array2<i32> {
    NdArray::from_shape_fn((6, 5), |(i, j)| (i as i32 * 7 - j as i32 * 3) % 5 - 1)
}

#[test]
fn every_op_in_every_layout_matches_context_scan() {
    let ctx = ctx();
    let f = f64_grid();
    let i = i32_grid();
    // Standard, Fortran (transposed), strided, negative strides.
    every_op(&ctx, &f, "f64 standard");
    every_op(&ctx, &f.t(), "f64 transposed");
    every_op(&ctx, &f.slice(s![..;2, ..]), "f64 strided");
    every_op(&ctx, &f.slice(s![..;-1, ..]), "f64 negative");
    every_op(&ctx, &f.slice(s![1..;-2, ..;-1]), "f64 negative strided");
    every_op(&ctx, &i, "i32 standard");
    every_op(&ctx, &i.t(), "i32 transposed");
    every_op(&ctx, &i.slice(s![..;2, ..]), "i32 strided");
    every_op(&ctx, &i.slice(s![..;-1, ..]), "i32 negative");
    let fortran = NdArray::from_shape_vec((6, 5).f(), i.iter().copied().collect()).unwrap();
    every_op(&ctx, &fortran, "i32 Fortran order");
    // 3-D, standard and permuted; other element types; dynamic dimensionality.
    let c: Array3<u8> = NdArray::from_shape_fn((3, 4, 5), |(a, b, c)| (a * 20 + b * 5 + c) as u8);
    every_op(&ctx, &c, "u8 3-D");
    every_op(&ctx, &c.view().permuted_axes([2, 0, 1]), "u8 3-D permuted");
    every_op(&ctx, &c.slice(s![.., ..;-2, 1..4]), "u8 3-D sliced");
    let b = c.mapv(|x| x % 3 == 0);
    every_op(&ctx, &b, "bool 3-D");
    let h = f.mapv(f16::from_f64);
    every_op(&ctx, &h.t(), "f16 transposed");
    let d = f.mapv(|x| x as f32).into_dyn();
    every_op(&ctx, &d, "f32 dynamic");
    every_op(&ctx, &i.mapv(i64::from).into_shared(), "i64 ArcArray");
}

#[test]
fn i32_sums_infer_i64() {
    let ctx = ctx();
    let a = array![[1i32, 4, 0], [7, 0, 9]];
    let r: Array2<i64> = a.cumsum_axis(&ctx, Axis(1)).unwrap();
    assert_eq!(r, array![[1i64, 5, 5], [7, 7, 16]]);
    let r: Array2<i64> = a.cumprod_axis(&ctx, Axis(0)).unwrap();
    assert_eq!(r, array![[1i64, 4, 0], [7, 0, 0]]);
    let r: Array2<i32> = a.cummax_axis(&ctx, Axis(0)).unwrap();
    assert_eq!(r, array![[1i32, 4, 0], [7, 4, 9]]);
    let r: Array2<f64> = a.logcumsumexp_axis(&ctx, Axis(1)).unwrap();
    assert!((r[[0, 1]] - (1f64.exp() + 4f64.exp()).ln()).abs() < 1e-12);
    let r: Array1<u64> = array![1u8, 255, 3].cumsum_flat(&ctx).unwrap();
    assert_eq!(r, array![1u64, 256, 259]);
}

#[test]
fn flat_returns_a_1d_array_in_c_order() {
    let ctx = ctx();
    let a = array![[1i64, 2], [3, 4]];
    let r: Array1<i64> = a.t().cumsum_flat(&ctx).unwrap();
    assert_eq!(r, array![1i64, 4, 6, 10]);
    let c = NdArray::from_shape_fn((2, 2, 2), |(i, j, k)| (i * 4 + j * 2 + k) as i16);
    let r: Array1<i16> = c.slice(s![..;-1, .., ..]).cummin_flat(&ctx).unwrap();
    assert_eq!(r, array![4i16, 4, 4, 4, 0, 0, 0, 0]);
    let r: Array1<i64> = NdArray::from_elem((), 5i32).cumsum_flat(&ctx).unwrap();
    assert_eq!(r, array![5i64]);
}

#[test]
fn into_writes_a_view_of_a_larger_array() {
    let ctx = ctx();
    let a = i32_grid();
    let want = a.cumsum_axis(&ctx, Axis(1)).unwrap().mapv(|x| x as f64);
    // A non-contiguous window: staged, then written in logical order.
    let mut big = NdArray::<f64, _>::from_elem((8, 9), -0.5);
    a.cumsum_axis_into(&ctx, Axis(1), big.slice_mut(s![1..7, 2..7]))
        .unwrap();
    assert_eq!(big.slice(s![1..7, 2..7]), want);
    assert_eq!(big.iter().filter(|&&x| x == -0.5).count(), 8 * 9 - 30);
    // A transposed, reversed window of the transposed input.
    let mut big = NdArray::<f64, _>::from_elem((9, 8), -0.5);
    a.t()
        .cumsum_axis_into(&ctx, Axis(0), big.slice_mut(s![2..7;-1, 1..7]))
        .unwrap();
    assert_eq!(big.slice(s![2..7;-1, 1..7]), want.t());
    // A contiguous out is written in place.
    let mut out = Array2::<i64>::zeros((6, 5));
    a.cumsum_axis_into(&ctx, Axis(1), out.view_mut()).unwrap();
    assert_eq!(out, want.mapv(|x| x as i64));
    // out= picks the loop dtype: u8 input into i16 accumulates in int16, so it wraps there.
    let u = array![200u8, 200, 200];
    let mut o = Array1::<i16>::zeros(3);
    u.cumsum_axis_into(&ctx, Axis(0), o.view_mut()).unwrap();
    assert_eq!(o, array![200i16, 400, 600]);
    let mut o = Array1::<u8>::zeros(3);
    u.cumsum_axis_into(&ctx, Axis(0), o.view_mut()).unwrap();
    assert_eq!(o, array![200u8, 144, 88]);
    // Every operation's _into agrees with its typed method.
    let f = f64_grid();
    let mut o = Array2::<f64>::zeros((5, 6));
    f.logcumsumexp_axis_into(&ctx, Axis(0), o.view_mut().reversed_axes())
        .unwrap();
    assert_same(
        &o.t().to_owned(),
        &f.logcumsumexp_axis(&ctx, Axis(0)).unwrap(),
        "lse into",
    );
    f.nancumprod_axis_into(&ctx, Axis(1), o.view_mut().reversed_axes())
        .unwrap();
    assert_same(
        &o.t().to_owned(),
        &f.nancumprod_axis(&ctx, Axis(1)).unwrap(),
        "nanprod into",
    );
    f.cummin_axis_into(&ctx, Axis(1), o.view_mut().reversed_axes())
        .unwrap();
    assert_same(
        &o.t().to_owned(),
        &f.cummin_axis(&ctx, Axis(1)).unwrap(),
        "cummin into",
    );
    // The flat form.
    let mut o = Array1::<i64>::zeros(30);
    a.scan_flat_into(&ctx, &Scan::cumsum(), o.view_mut())
        .unwrap();
    assert_eq!(o, a.cumsum_flat(&ctx).unwrap());
}

#[test]
fn into_leaves_out_untouched_on_error() {
    let ctx = ctx();
    let a = i32_grid();
    let mut big = NdArray::<f64, _>::from_elem((8, 9), -0.5);
    let before = big.clone();
    // Wrong shape, strided and contiguous.
    let err = a
        .cumsum_axis_into(&ctx, Axis(1), big.slice_mut(s![1..6, 2..7]))
        .unwrap_err();
    assert!(matches!(err, Error::OutShape { .. }), "{err}");
    let err = a
        .cumsum_axis_into(&ctx, Axis(1), big.slice_mut(s![0..1, ..]))
        .unwrap_err();
    assert!(matches!(err, Error::OutShape { .. }), "{err}");
    // An axis out of bounds and bad segments.
    let err = a
        .cummax_axis_into(&ctx, Axis(2), big.slice_mut(s![1..7, 2..7]))
        .unwrap_err();
    assert!(matches!(err, Error::AxisOutOfBounds { .. }), "{err}");
    let bad = Scan::cumsum().segments(vec![0, 9]);
    let err = a
        .scan_axis_into(&ctx, &bad, Axis(1), big.slice_mut(s![1..7, 2..7]))
        .unwrap_err();
    assert!(matches!(err, Error::Segments(_)), "{err}");
    assert_eq!(big, before);
    let mut out = Array2::<i64>::from_elem((5, 6), 7);
    assert!(a.cumsum_axis_into(&ctx, Axis(0), out.view_mut()).is_err());
    assert!(out.iter().all(|&x| x == 7));
}

#[test]
fn scan_axis_takes_every_option_and_checks_the_type() {
    let ctx = ctx();
    let a = array![[3i64, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8]];
    let scan = Scan::cumsum()
        .reverse(true)
        .exclusive(true)
        .segments(vec![0, 3, 8])
        .axis(0); // replaced by the method's axis
    let r = a.scan_axis::<i64>(&ctx, &scan, Axis(1)).unwrap();
    assert_eq!(r.row(0), array![5i64, 4, 0, 22, 17, 8, 6, 0]);
    let want = reference::<i64, i64, _>(&ctx, &a.t(), &scan.clone().axis(0));
    assert_same(
        &a.t().scan_axis::<i64>(&ctx, &scan, Axis(0)).unwrap(),
        &want,
        "reverse",
    );
    // dtype= decides the result type.
    let r = a
        .scan_axis::<f32>(&ctx, &Scan::cumprod().dtype(DType::Float32), Axis(1))
        .unwrap();
    assert_eq!(r[[0, 3]], 12.0);
    let err = a
        .scan_axis::<i32>(&ctx, &Scan::cumsum(), Axis(1))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::DTypeMismatch {
                requested: DType::Int32,
                actual: DType::Int64
            }
        ),
        "{err}"
    );
    let err = a.scan_flat::<f64>(&ctx, &Scan::cummax()).unwrap_err();
    assert!(matches!(err, Error::DTypeMismatch { .. }), "{err}");
    // include_initial grows the axis; cumulative_sum refuses to flatten 2-D.
    let r = a
        .scan_axis::<i64>(&ctx, &Scan::cumulative_sum().include_initial(true), Axis(1))
        .unwrap();
    assert_eq!(r.shape(), &[2, 9]);
    assert_eq!(r.row(1).to_vec()[..3], [0, 2, 9]);
    let err = a
        .scan_flat::<i64>(&ctx, &Scan::cumulative_sum())
        .unwrap_err();
    assert!(matches!(err, Error::AxisRequired), "{err}");
    // Order::Exact and a dynamic-dimension input.
    let f = f64_grid().into_dyn();
    let exact = Scan::cumsum().order(gpuscan::Order::Exact);
    let r: ArrayD<f64> = f.scan_axis(&ctx, &exact, Axis(0)).unwrap();
    assert_eq!(r.raw_dim(), IxDyn(&[6, 5]));
}

#[test]
fn gpu_when_there_is_one() {
    let ctx = ctx();
    if !ctx.has_gpu() {
        eprintln!("no GPU: {:?}", ctx.gpu_unavailable_reason());
        return;
    }
    let a = NdArray::from_shape_fn((64, 300), |(i, j)| ((i * 31 + j * 7) % 13) as i32 - 6);
    let view = a.slice(s![..;-2, 1..]);
    for op in [ScanOp::Sum, ScanOp::Max] {
        let gpu = Scan::new(op).device(Device::Gpu);
        let cpu = Scan::new(op).device(Device::Cpu);
        if op == ScanOp::Sum {
            let g = view.scan_axis::<i64>(&ctx, &gpu, Axis(1)).unwrap();
            let c = view.scan_axis::<i64>(&ctx, &cpu, Axis(1)).unwrap();
            assert_eq!(g, c);
            assert_eq!(g, view.cumsum_axis(&ctx, Axis(1)).unwrap());
        } else {
            let g = view.t().scan_axis::<i32>(&ctx, &gpu, Axis(0)).unwrap();
            let c = view.t().scan_axis::<i32>(&ctx, &cpu, Axis(0)).unwrap();
            assert_eq!(g, c);
        }
    }
    let mut big = NdArray::<f64, _>::zeros((40, 310));
    view.scan_axis_into(
        &ctx,
        &Scan::cumsum().device(Device::Gpu),
        Axis(0),
        big.slice_mut(s![..32, 11..]),
    )
    .unwrap();
    assert_eq!(
        big.slice(s![..32, 11..]),
        view.cumsum_axis(&ctx, Axis(0)).unwrap().mapv(|x| x as f64)
    );
}

fn promotes<T: Promote>() {
    for op in ScanOp::ALL {
        let typed = match op {
            ScanOp::Sum | ScanOp::Prod | ScanOp::NanSum | ScanOp::NanProd => {
                <T::Sum as Element>::DTYPE
            }
            ScanOp::Max | ScanOp::Min => T::DTYPE,
            ScanOp::LogAddExp => <T::Log as Element>::DTYPE,
            _ => unreachable!("a new operation needs a row in this table"),
        };
        assert_eq!(typed, op.result_dtype(T::DTYPE), "{op} of {}", T::DTYPE);
    }
}

#[test]
fn promote_agrees_with_result_dtype_for_every_dtype() {
    promotes::<bool>();
    promotes::<i8>();
    promotes::<i16>();
    promotes::<i32>();
    promotes::<i64>();
    promotes::<u8>();
    promotes::<u16>();
    promotes::<u32>();
    promotes::<u64>();
    promotes::<f16>();
    promotes::<f32>();
    promotes::<f64>();
    // Every dtype has its row.
    assert_eq!(DType::ALL.len(), 12);
}

#[test]
fn cumsum_ndarray_still_works() {
    let ctx = ctx();
    let a = array![[1i32, 4, 0], [7, 0, 9]];
    let r = ctx
        .cumsum_ndarray::<_, i64, _>(&a.t(), &gpuscan::Cumsum::new().axis(1))
        .unwrap();
    assert_eq!(r, array![[1i64, 8], [4, 4], [0, 9]].into_dyn());
}
