//! Resident scans queued without waiting, the `_async` calls, the buffer pool, and host scans
//! pipelined in batches, each against the blocking CPU result.

mod common;

use gpuscan::plan::Geometry;
use gpuscan::{
    Array, Context, ContextOptions, Cumsum, DType, Device, Error, Faults, GpuErrorKind, Scan,
    ScanOp,
};

/// Integers whose sums stay exact; a different pattern per `seed`.
fn ints(n: usize, seed: i64) -> Vec<i64> {
    (0..n as i64).map(|i| (i * 7 + seed) % 23 - 11).collect()
}

/// Same dtype, shape and bits.
#[track_caller]
fn assert_same(got: &Array, want: &Array) {
    assert_eq!(got.dtype(), want.dtype());
    assert_eq!(got.shape(), want.shape());
    assert_eq!(common::bits(got), common::bits(want));
}

fn cpu(ctx: &Context, a: &Array, scan: &Scan) -> Array {
    ctx.scan(a, &scan.clone().device(Device::Cpu)).unwrap()
}

#[test]
fn queued_resident_scans_match_the_cpu_and_run_in_order() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let a = Array::from_shape_vec(&[37, 29], ints(37 * 29, 3)).unwrap();
    let gpu_a = ctx.upload(&a).unwrap();
    // A chain: each scan reads the one queued before it, none submitted until the read.
    let scans = [
        Scan::cumsum().axis(1),
        Scan::cummax().axis(0),
        Scan::cumsum().axis(0).reverse(true),
        Scan::cummin().axis(1).exclusive(true),
        Scan::cumsum().segments(vec![0, 5, 5, 20, 37]).axis(0),
    ];
    let mut host = a.clone();
    let mut dev = gpu_a;
    for scan in &scans {
        host = cpu(&ctx, &host, scan);
        dev = ctx.scan_gpu(&dev, scan).unwrap();
    }
    assert_same(&ctx.download(&dev).unwrap(), &host);

    // Many independent scans queued past the automatic flush, read back in any order.
    let inputs: Vec<Array> = (0..70)
        .map(|s| Array::from_vec(ints(1000 + s, s as i64)))
        .collect();
    let queued: Vec<_> = inputs
        .iter()
        .map(|x| {
            ctx.scan_gpu(&ctx.upload(x).unwrap(), &Scan::cumsum())
                .unwrap()
        })
        .collect();
    for (x, r) in inputs.iter().zip(&queued).rev() {
        assert_same(&ctx.download(r).unwrap(), &cpu(&ctx, x, &Scan::cumsum()));
    }
}

#[test]
fn the_queue_accessor_submits_queued_scans_first() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let a = Array::from_vec(ints(4096, 1));
    let r = ctx
        .scan_gpu(&ctx.upload(&a).unwrap(), &Scan::cumsum())
        .unwrap();
    // The caller's own copy of the result, submitted on the queue: it must see the scan.
    let copy = ctx.gpu_zeros(DType::Int64, &[4096]).unwrap();
    let device = ctx.device().unwrap();
    let mut encoder = device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(r.buffer(), 0, copy.buffer(), 0, 4096 * 8);
    ctx.queue().unwrap().submit([encoder.finish()]);
    assert_same(
        &ctx.download(&copy).unwrap(),
        &cpu(&ctx, &a, &Scan::cumsum()),
    );
}

#[test]
fn async_calls_match_the_blocking_ones() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let a = Array::from_shape_vec(&[300, 7], ints(2100, 5)).unwrap();
    let scan = Scan::cumsum().axis(0).device(Device::Gpu);
    let want = ctx.scan(&a, &scan).unwrap();
    assert_same(&want, &cpu(&ctx, &a, &scan));

    // The futures can be sent to another thread's executor.
    fn send<T: Send>(t: T) -> T {
        t
    }
    let got = pollster::block_on(send(ctx.scan_async(&a, &scan))).unwrap();
    assert_same(&got, &want);
    let mut out = Array::zeros(DType::Float64, &[300, 7]).unwrap();
    pollster::block_on(send(ctx.scan_into_async(&a, &mut out, &scan))).unwrap();
    assert_same(&out, &want.astype(DType::Float64));
    let sum = Cumsum::new().axis(1).device(Device::Gpu);
    let got = pollster::block_on(ctx.cumsum_async(&a, &sum)).unwrap();
    assert_same(&got, &ctx.cumsum(&a, &sum).unwrap());
    let mut out = Array::zeros(DType::Int64, &[300, 7]).unwrap();
    pollster::block_on(ctx.cumsum_into_async(&a, &mut out, &sum)).unwrap();
    assert_same(&out, &got);

    let resident = ctx.scan_gpu(&ctx.upload(&a).unwrap(), &scan).unwrap();
    let got = pollster::block_on(send(ctx.download_async(&resident))).unwrap();
    assert_same(&got, &want);

    // Several in flight at once from threads, each waited for by the context's poller.
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let ctx = &ctx;
                s.spawn(move || {
                    let x = Array::from_vec(ints(5000 + t, t as i64));
                    let s = Scan::cummax().device(Device::Gpu);
                    let got = pollster::block_on(ctx.scan_async(&x, &s)).unwrap();
                    assert_same(&got, &cpu(ctx, &x, &s));
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

#[test]
fn the_pool_keeps_buffers_up_to_its_cap_and_releases_them() {
    let cap = 1 << 20;
    let Some(ctx) = common::gpu_context_with(ContextOptions::default().pool_bytes(cap)) else {
        return;
    };
    let scan = Scan::cumsum().device(Device::Gpu);
    assert_eq!(ctx.pool_cap(), cap);
    assert_eq!(ctx.pooled_bytes(), 0);
    let small = Array::from_vec(ints(1000, 2));
    ctx.scan(&small, &scan).unwrap();
    let held = ctx.pooled_bytes();
    assert!(held > 0, "a host scan returns its buffers to the pool");
    // The same size again takes the same buffers: the pool does not grow.
    ctx.scan(&small, &scan).unwrap();
    assert_eq!(ctx.pooled_bytes(), held);
    // A scan whose buffers exceed the cap leaves the pool within it.
    let large = Array::from_vec(ints(1 << 18, 4));
    assert_same(&ctx.scan(&large, &scan).unwrap(), &cpu(&ctx, &large, &scan));
    assert!(ctx.pooled_bytes() <= cap);
    // Resident scans return their scratch once the GPU has run them.
    let r = ctx
        .scan_gpu(&ctx.upload(&small).unwrap(), &Scan::cumsum())
        .unwrap();
    ctx.download(&r).unwrap();
    assert!(ctx.pooled_bytes() > 0);

    let released = ctx.release_buffers();
    assert!(released > 0);
    assert_eq!(ctx.pooled_bytes(), 0);
    assert_eq!(ctx.release_buffers(), 0);
    ctx.scan(&small, &scan).unwrap();
    assert!(
        ctx.set_pool_cap(0) > 0,
        "lowering the cap frees what is beyond it"
    );
    assert_eq!(ctx.pooled_bytes(), 0);
    ctx.scan(&small, &scan).unwrap();
    assert_eq!(ctx.pooled_bytes(), 0, "a cap of 0 keeps nothing");

    let none = Context::with_options(ContextOptions::default().pool_bytes(0)).unwrap();
    none.scan(&small, &scan).unwrap();
    assert_eq!(none.pooled_bytes(), 0);
}

/// A context whose host scans stream in batches of `bytes`.
fn batched(bytes: u64) -> Option<Context> {
    common::gpu_context_with(ContextOptions::default().batch_bytes(bytes))
}

#[test]
fn pipelined_batches_with_odd_remainders_match_the_cpu() {
    let Some(ctx) = batched(4096) else {
        return;
    };
    // 4 KiB batches: 512 int64 elements; lengths of 1..9 batches and a remainder.
    let cases: Vec<(Vec<usize>, Option<isize>)> = vec![
        (vec![512], None),
        (vec![513], None),
        (vec![3 * 512 + 1], None),
        (vec![9 * 512 - 7], None),
        (vec![700, 3], Some(0)),
        (vec![3, 700], Some(1)),
        (vec![5, 301, 3], Some(1)),
        (vec![2, 2000], None),
    ];
    for (shape, axis) in cases {
        let n = shape.iter().product();
        let a = Array::from_shape_vec(&shape, ints(n, n as i64)).unwrap();
        let flat = |s: Scan| match axis {
            Some(k) => s.axis(k),
            None => s,
        };
        for scan in [
            flat(Scan::cumsum()),
            flat(Scan::cumsum().reverse(true)),
            flat(Scan::cumsum().exclusive(true)),
            flat(Scan::cummax().reverse(true).exclusive(true)),
            flat(Scan::new(ScanOp::Min)),
        ] {
            let scan = scan.device(Device::Gpu);
            let got = ctx.scan(&a, &scan).unwrap();
            let want = cpu(&ctx, &a, &scan);
            assert_eq!(
                common::bits(&got),
                common::bits(&want),
                "{shape:?} axis {axis:?} {scan:?}"
            );
        }
    }
    // Segments across batch boundaries.
    let a = Array::from_vec(ints(5000, 9));
    let scan = Scan::cumsum()
        .segments(vec![0, 1, 511, 513, 1024, 1025, 4999, 5000])
        .device(Device::Gpu);
    assert_same(&ctx.scan(&a, &scan).unwrap(), &cpu(&ctx, &a, &scan));
    // float32 in batches: numpy's sum within the float64 reference's tolerance.
    let x: Vec<f32> = (0..5000).map(|i| ((i * 37) % 101) as f32 / 7.0).collect();
    let a = Array::from_vec(x);
    let got = ctx.scan(&a, &Scan::cumsum().device(Device::Gpu)).unwrap();
    let (geometry, _) = Geometry::resolve(&[5000], None).unwrap();
    let input = common::to_f64(&a);
    common::assert_close_to_reference(&got, &input, &geometry, DType::Float32, "batched float32");
}

#[test]
fn a_failure_between_batches_leaves_out_untouched() {
    let Some(ctx) = batched(4096) else {
        return;
    };
    let a = Array::from_vec(ints(10 * 512, 7));
    let scan = Scan::cumsum().device(Device::Gpu);
    ctx.set_faults(Faults::NONE.fail_at_batch(4)).unwrap();
    let sentinel = Array::from_vec(vec![-1.5f64; 10 * 512]);
    let mut out = sentinel.clone();
    let err = ctx.scan_into(&a, &mut out, &scan).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Gpu {
                kind: GpuErrorKind::Mapping,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        common::bits(&out),
        common::bits(&sentinel),
        "three batches were read before the failure"
    );
    let err = pollster::block_on(ctx.scan_into_async(&a, &mut out, &scan)).unwrap_err();
    assert!(err.to_string().contains("batch 4"), "{err}");
    assert_eq!(common::bits(&out), common::bits(&sentinel));
    // The context goes on working once the fault is off.
    ctx.set_faults(Faults::NONE).unwrap();
    ctx.scan_into(&a, &mut out, &scan).unwrap();
    assert_same(&out, &cpu(&ctx, &a, &scan).astype(DType::Float64));
}
