//! Adapter choice follows wgpu's environment variables and never panics. A test binary of its
//! own, since it sets process-wide variables.

mod common;

use gpuscan::{Array, Context, ContextOptions, Cumsum, Device, Error};

#[test]
fn environment_selects_the_adapter_without_panicking() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    let name = ctx.adapter_info().unwrap().name.clone();
    drop(ctx);

    // A name that matches picks that adapter (case-insensitive substring).
    std::env::set_var("WGPU_ADAPTER_NAME", name[..3].to_uppercase());
    let ctx = Context::new().unwrap();
    assert_eq!(
        ctx.adapter_info().map(|i| i.name.as_str()),
        Some(name.as_str())
    );

    // A name that matches nothing gives a CPU-only context that says why.
    std::env::set_var("WGPU_ADAPTER_NAME", "no such adapter 1234");
    let ctx = Context::new().unwrap();
    assert!(!ctx.has_gpu());
    let reason = ctx.gpu_unavailable_reason().unwrap();
    assert!(reason.contains("WGPU_ADAPTER_NAME"), "{reason}");
    let a = Array::from_vec(vec![1.0f32, 2.0]);
    assert_eq!(
        ctx.cumsum(&a, &Cumsum::new())
            .unwrap()
            .as_slice::<f32>()
            .unwrap(),
        &[1.0, 3.0]
    );
    let err = ctx
        .cumsum(&a, &Cumsum::new().device(Device::Gpu))
        .unwrap_err();
    assert!(matches!(err, Error::NoAdapter(_)), "{err}");
    assert!(err.to_string().contains("no GPU adapter"), "{err}");
    std::env::remove_var("WGPU_ADAPTER_NAME");

    // The same choice through the options, without the environment.
    let named = |n: &str| Context::with_options(ContextOptions::default().adapter_name(n));
    let ctx = named(&name[1..4].to_lowercase()).unwrap();
    assert_eq!(
        ctx.adapter_info().map(|i| i.name.as_str()),
        Some(name.as_str())
    );
    let ctx = named("no such adapter 1234").unwrap();
    assert!(!ctx.has_gpu());
    let reason = ctx.gpu_unavailable_reason().unwrap();
    assert!(
        reason.contains("no adapter matches the adapter name"),
        "{reason}"
    );

    // A backend that offers no adapter (Metal on Linux) also ends CPU-only.
    std::env::set_var("WGPU_BACKEND", "metal");
    let ctx = Context::new().unwrap();
    std::env::remove_var("WGPU_BACKEND");
    if cfg!(target_os = "linux") {
        assert!(!ctx.has_gpu());
        assert!(ctx
            .gpu_unavailable_reason()
            .unwrap()
            .contains("mesa-vulkan-drivers"));
    }

    // Power preference is honoured without error.
    std::env::set_var("WGPU_POWER_PREF", "high");
    assert!(Context::new().unwrap().has_gpu());
    std::env::remove_var("WGPU_POWER_PREF");
}
