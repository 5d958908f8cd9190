//! A real calibration on the adapter wgpu picks (lavapipe in CI), its file, and its use by
//! later contexts.
//!
//! `GPUSCAN_CALIBRATION` is process-wide, so everything that sets it is this file's one test,
//! run in sequence; other test binaries are other processes and never see it.

mod common;

use gpuscan::calibrate::{
    choose_threshold, AdapterIdentity, AutoPolicySource, CalibrateOptions, Calibration, PATH_VAR,
};
use gpuscan::{AutoPolicy, Context, ContextOptions, DType, Error, DEFAULT_AUTO_THRESHOLD};

#[test]
fn calibration_is_measured_saved_and_applied() {
    let dir = std::env::temp_dir().join(format!("gpuscan-calibrate-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The file does not exist yet, and neither the directory: save creates it.
    let path = dir.join("cache").join("calibration.txt");
    // Before any context exists, so none reads a calibration the user stored.
    std::env::set_var(PATH_VAR, &path);

    let Some(ctx) = common::gpu_context() else {
        let ctx = Context::new().unwrap();
        let r = ctx.calibrate(&CalibrateOptions::new().max_elements(16));
        assert!(matches!(r, Err(Error::NoAdapter(_))), "{r:?}");
        assert_eq!(ctx.auto_policy_source(), AutoPolicySource::Default);
        std::env::remove_var(PATH_VAR);
        return;
    };
    let info = ctx.adapter_info().expect("a GPU context").clone();
    let software = info.device_type == wgpu::DeviceType::Cpu;
    let default = if software {
        AutoPolicy::never()
    } else {
        AutoPolicy::uniform(DEFAULT_AUTO_THRESHOLD)
    };
    assert_eq!(ctx.auto_policy_source(), AutoPolicySource::Default);
    assert_eq!(ctx.auto_policy(), default);

    // A tiny real calibration: well-formed, and never the GPU on a software adapter.
    let options = CalibrateOptions::new()
        .max_elements(1 << 12)
        .dtypes(&[DType::Float32]);
    let calibration = ctx.calibrate(&options).unwrap();
    assert_eq!(calibration.adapter, AdapterIdentity::of(&info));
    assert!(calibration.is_for(&info));
    assert_eq!(calibration.dtypes.len(), 1);
    let f32_cal = &calibration.dtypes[0];
    assert_eq!(f32_cal.dtype, DType::Float32);
    let sizes: Vec<u64> = f32_cal.measurements.iter().map(|m| m.elements).collect();
    assert_eq!(sizes, [1, 4, 16, 64, 256, 1024, 4096]);
    for m in &f32_cal.measurements {
        for s in [m.cpu_seconds, m.gpu_seconds] {
            assert!(s.is_finite() && s > 0.0 && s < 10.0, "{m:?}");
        }
    }
    let choice = choose_threshold(&f32_cal.measurements).unwrap();
    assert_eq!(f32_cal.threshold, choice.threshold);
    assert_eq!(f32_cal.worst_ratio(), choice.worst_ratio);
    if software {
        for d in &calibration.dtypes {
            assert_eq!(d.threshold, None, "{d:?}");
        }
        assert_eq!(calibration.auto_policy(), AutoPolicy::never());
    }
    // Measuring leaves the context's own policy alone.
    assert_eq!(ctx.auto_policy_source(), AutoPolicySource::Default);

    // Saved where GPUSCAN_CALIBRATION says, and found again for this adapter.
    assert_eq!(Calibration::path_for(&info), Some(path.clone()));
    assert_eq!(calibration.save().unwrap(), path);
    let (loaded, from) = Calibration::load_for(&info).unwrap().expect("stored");
    assert_eq!((loaded, from), (calibration.clone(), path.clone()));

    // A new context applies a stored calibration: thresholds unlike any default, so the
    // policy can only have come from the file; dtypes it does not cover keep the default.
    let mut distinct = calibration.clone();
    distinct.dtypes[0].threshold = Some(12345);
    distinct.save().unwrap();
    let applied = common::gpu_context().expect("the same adapter");
    assert_eq!(
        applied.auto_policy_source(),
        AutoPolicySource::Calibration(path.clone())
    );
    assert_eq!(applied.auto_threshold(DType::Float32), Some(12345));
    assert_eq!(
        applied.auto_threshold(DType::Int64),
        default.threshold(DType::Int64)
    );
    assert_eq!(applied.auto_policy(), distinct.apply_to(&default));
    // Changing the policy afterwards is reported as such.
    applied.set_auto_policy(AutoPolicy::uniform(99));
    assert_eq!(applied.auto_policy_source(), AutoPolicySource::Set);

    // An explicit policy wins over the stored one.
    let explicit =
        common::gpu_context_with(ContextOptions::default().auto_threshold(7)).expect("adapter");
    assert_eq!(explicit.auto_policy_source(), AutoPolicySource::Options);
    assert_eq!(explicit.auto_threshold(DType::Float32), Some(7));

    // Another adapter's file, or a malformed one, is ignored: the default, no error.
    let mut other = distinct.clone();
    other.adapter.name = "gpuscan test adapter that is not this one".into();
    other.save_to(&path).unwrap();
    assert_eq!(Calibration::load_for(&info).unwrap(), None);
    let ignored = common::gpu_context().expect("adapter");
    assert_eq!(ignored.auto_policy_source(), AutoPolicySource::Default);
    assert_eq!(ignored.auto_policy(), default);

    std::fs::write(&path, "gpuscan-calibration 1\nfloat32 soon\n").unwrap();
    assert!(matches!(
        Calibration::load_for(&info),
        Err(Error::Format(_))
    ));
    let ignored = common::gpu_context().expect("adapter");
    assert_eq!(ignored.auto_policy_source(), AutoPolicySource::Default);
    assert_eq!(ignored.auto_policy(), default);

    std::env::remove_var(PATH_VAR);
    let _ = std::fs::remove_dir_all(&dir);
}
