//! Each error kind a caller can provoke comes back as its own variant, with its source kept:
//! what a binding matches on to raise its own exception.

mod common;

use std::error::Error as _;

use gpuscan::{Array, Context, ContextOptions, Cumsum, DType, Device, Error, LimitOrigin, Scan};

/// wgpu's default adapter, for tests that make a device of their own.
fn adapter() -> wgpu::Adapter {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    pollster::block_on(instance.request_adapter(&Default::default())).unwrap()
}

#[test]
fn missing_file_is_io_with_the_io_error_as_source() {
    let path = std::env::temp_dir().join(format!("gpuscan-missing-{}.npy", std::process::id()));
    let err = gpuscan::npy::read(&path).unwrap_err();
    let Error::Io {
        action,
        path: ref named,
        ref source,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(action, "open");
    assert_eq!(named, &path.display().to_string());
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    let io = err.source().expect("a source");
    let io = io.downcast_ref::<std::io::Error>().expect("an io::Error");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn bad_npy_is_format() {
    let err = gpuscan::npy::read_from(&b"not a .npy file at all"[..], "bad.npy").unwrap_err();
    assert!(matches!(err, Error::Format(_)), "{err:?}");
}

#[test]
fn unknown_dtype_name_is_unknown_dtype() {
    let err = "complex64".parse::<DType>().unwrap_err();
    assert!(
        matches!(&err, Error::UnknownDType(s) if s == "complex64"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "unsupported dtype 'complex64': gpuscan handles bool, int8..int64, uint8..uint64, \
         float16, float32, float64"
    );
}

#[test]
fn bad_axis_is_axis_out_of_bounds() {
    let ctx = Context::cpu_only();
    let a = Array::from_shape_vec(&[2, 3], vec![1.0f32; 6]).unwrap();
    let err = ctx.cumsum(&a, &Cumsum::new().axis(2)).unwrap_err();
    assert!(
        matches!(err, Error::AxisOutOfBounds { axis: 2, ndim: 2 }),
        "{err:?}"
    );
}

#[test]
fn bad_segment_offsets_are_segments() {
    let ctx = Context::cpu_only();
    let a = Array::from_vec(vec![1.0f32; 6]);
    for offsets in [vec![0, 4, 2, 6], vec![0, 3], vec![1, 6]] {
        let err = ctx
            .scan(&a, &Scan::cumsum().segments(offsets.clone()))
            .unwrap_err();
        assert!(matches!(err, Error::Segments(_)), "{offsets:?}: {err:?}");
    }
}

#[test]
fn out_of_the_wrong_shape_is_out_shape() {
    let ctx = Context::cpu_only();
    let a = Array::from_vec(vec![1i32; 6]);
    let mut out = Array::zeros(DType::Int64, &[5]).unwrap();
    let err = ctx
        .cumsum_into(&a, &mut out, &Cumsum::new().device(Device::Cpu))
        .unwrap_err();
    assert!(
        matches!(&err, Error::OutShape { out, expected } if out == &[5] && expected == &[6]),
        "{err:?}"
    );
}

/// A device requested with a small `max_buffer_size`: an array over it is
/// `TooLarge`, naming that limit as the device's requested one. `gpu_zeros` checks the size
/// before allocating anything, so the test stays cheap.
#[test]
fn buffer_over_a_requested_limit_is_too_large() {
    if common::gpu_context().is_none() {
        return;
    }
    let adapter = adapter();
    let name = adapter.get_info().name;
    // Only the buffer size is lowered: the kernels need more storage buffers per stage than
    // `Limits::downlevel_defaults` allows.
    let limits = wgpu::Limits {
        max_buffer_size: 1 << 20,
        ..wgpu::Limits::default()
    };
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("test device with downlevel limits"),
        required_limits: limits.clone(),
        ..Default::default()
    }))
    .unwrap();
    let ctx = Context::from_device(device, queue, ContextOptions::default()).unwrap();
    let elements = (limits.max_buffer_size / 4 + 1) as usize;
    let err = ctx.gpu_zeros(DType::Float32, &[elements]).unwrap_err();
    let Error::TooLarge {
        limit,
        requested,
        allowed,
        ref device,
        origin,
        ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(limit, "max_buffer_size");
    assert_eq!(allowed, limits.max_buffer_size);
    assert_eq!(requested, elements as u64 * 4);
    assert_eq!(device, &name);
    assert_eq!(origin, LimitOrigin::Requested);
    let text = err.to_string();
    assert!(
        text.contains("max_buffer_size") && text.contains(&name),
        "{text}"
    );
}

/// A caller's device with too few storage buffers per stage (wgpu's downlevel defaults) is
/// refused with the limit named, where wgpu would panic creating the bind group layout.
#[test]
fn too_few_storage_buffers_is_too_large() {
    if common::gpu_context().is_none() {
        return;
    }
    let adapter = adapter();
    let limits = wgpu::Limits::downlevel_defaults();
    assert!(limits.max_storage_buffers_per_shader_stage < gpuscan::STORAGE_BUFFERS_PER_PASS);
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("test device with downlevel limits"),
        required_limits: limits.clone(),
        ..Default::default()
    }))
    .unwrap();
    let err = Context::from_device(device, queue, ContextOptions::default()).unwrap_err();
    let Error::TooLarge {
        limit,
        requested,
        allowed,
        origin,
        ..
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(limit, "max_storage_buffers_per_shader_stage");
    assert_eq!(requested, gpuscan::STORAGE_BUFFERS_PER_PASS as u64);
    assert_eq!(allowed, limits.max_storage_buffers_per_shader_stage as u64);
    assert_eq!(origin, LimitOrigin::Requested);
}

/// A device requested as `DeviceRequest` says runs every dtype the adapter can: int32 input
/// sums in int64 on the GPU, which a device with wgpu's default features cannot.
#[test]
fn a_requested_device_runs_int64() {
    if common::gpu_context().is_none() {
        return;
    }
    let adapter = adapter();
    let request = gpuscan::DeviceRequest::for_adapter(&adapter);
    if !request.features.contains(wgpu::Features::SHADER_INT64) {
        return;
    }
    let (device, queue) =
        pollster::block_on(adapter.request_device(&request.descriptor())).unwrap();
    assert_eq!(device.limits(), adapter.limits());
    let ctx = Context::from_device(device, queue, ContextOptions::default()).unwrap();
    let a = Array::from_vec(vec![1i32, 2, 3, 4]);
    let r = ctx.cumsum(&a, &Cumsum::new().device(Device::Gpu)).unwrap();
    assert_eq!(r.into_vec::<i64>().unwrap(), vec![1, 3, 6, 10]);
    let (plain, queue) = pollster::block_on(adapter.request_device(&Default::default())).unwrap();
    let ctx = Context::from_device(plain, queue, ContextOptions::default()).unwrap();
    let err = ctx
        .cumsum(&a, &Cumsum::new().device(Device::Gpu))
        .unwrap_err();
    assert!(matches!(err, Error::MissingFeature { .. }), "{err:?}");
}

/// gpuscan's own device has all of the adapter's limits, and says so.
#[test]
fn buffer_over_the_adapters_limit_is_too_large() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let err = ctx.gpu_zeros(DType::Float64, &[1 << 45]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooLarge {
                limit: "max_buffer_size",
                origin: LimitOrigin::Adapter,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A device destroyed under a context: its next GPU scan reports `DeviceLost`, however wgpu
/// surfaces the failure.
#[test]
fn destroyed_device_is_device_lost() {
    if common::gpu_context().is_none() {
        return;
    }
    let adapter = adapter();
    let (device, queue) = pollster::block_on(adapter.request_device(&Default::default())).unwrap();
    let ctx = Context::from_device(device.clone(), queue, ContextOptions::default()).unwrap();
    device.destroy();
    // wgpu calls the lost callback when the device is next maintained.
    let _ = device.poll(wgpu::PollType::Poll);
    let a = Array::from_vec(vec![1i32; 100]);
    let err = ctx
        .cumsum(&a, &Cumsum::new().dtype(DType::Int32).device(Device::Gpu))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Gpu {
                kind: gpuscan::GpuErrorKind::DeviceLost,
                ..
            }
        ),
        "{err:?}"
    );
}
