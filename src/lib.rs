#![warn(missing_docs)]
//! # gpuscan
//!
//! numpy's scans on any GPU, through wgpu and WGSL compute shaders, with numpy's semantics:
//! `cumsum`, `cumprod`, `nancumsum`, `nancumprod`, `cummax`/`cummin` (with indices),
//! `logcumsumexp` and numpy 2's `cumulative_sum`/`cumulative_prod`, each also reverse,
//! exclusive and segmented ([`Scan`], [`Context::scan`]). `axis=None` flattens in C order, an
//! integer axis (negative from the end) scans every lane independently, `dtype` casts first
//! and computes in it, `out` takes any dtype, and the result dtype follows numpy's promotion.
//! A CPU path (eight elements per step with a compensated carry, or numpy's own order with
//! [`Order::Exact`]) serves small inputs and machines without an adapter.
//!
//! ```
//! use gpuscan::{Array, Context, Scan};
//!
//! let ctx = Context::new()?;
//! let a = Array::from_vec(vec![2.0f64, 7.0, 1.0, 8.0, 2.0, 8.0]);
//! let r = ctx.scan(&a, &Scan::cummax().reverse(true))?;
//! assert_eq!(r.as_slice::<f64>()?, &[8.0, 8.0, 8.0, 8.0, 8.0, 8.0]);
//! let r = ctx.scan(&a, &Scan::cumprod().exclusive(true).segments(vec![0, 2, 6]))?;
//! assert_eq!(r.as_slice::<f64>()?, &[1.0, 2.0, 1.0, 1.0, 8.0, 16.0]);
//! # Ok::<(), gpuscan::Error>(())
//! ```
//!
//! ```
//! use gpuscan::{Array, Context, Cumsum, DType, Device};
//!
//! let ctx = Context::new()?; // reuse it: it caches the compiled pipelines
//! let a = Array::from_shape_vec(&[4, 3], vec![1i32, 4, 0, 7, 0, 9, 5, 0, 3, 12, 0, 5])?;
//! let r = ctx.cumsum(&a, &Cumsum::new().axis(1))?;
//! assert_eq!(r.dtype(), DType::Int64); // numpy promotes int32 to int64
//! assert_eq!(r.as_slice::<i64>()?, &[1, 5, 5, 7, 7, 16, 5, 5, 8, 12, 12, 17]);
//!
//! // numpy's out=: any dtype, the shape must match, accumulated in result_type(out, a).
//! let mut out = Array::zeros(DType::Float64, &[12])?;
//! ctx.cumsum_into(&a, &mut out, &Cumsum::new().device(Device::Cpu))?;
//! assert_eq!(out.as_slice::<f64>()?[11], 46.0);
//! # Ok::<(), gpuscan::Error>(())
//! ```
//!
//! Arrays can stay on the GPU between scans ([`Context::upload`], [`Context::scan_gpu`]),
//! and a scan can be recorded into the caller's own encoder ([`Context::record_scan`]).
//!
//! # Re-exported dependencies
//!
//! Types of two crates appear in this API: [wgpu 30](https://docs.rs/wgpu/30) (devices,
//! buffers and encoders) and, with the default `ndarray` feature,
//! [ndarray 0.17](https://docs.rs/ndarray/0.17). Another version of either is a different
//! crate whose types do not fit, so use the re-exports `gpuscan::wgpu` and `gpuscan::ndarray`,
//! or depend on these same versions.
//!
//! # Logging and Mesa's messages
//!
//! gpuscan never prints: what it cannot return as an [`Error`] (a wgpu error outside any
//! error scope, a stored calibration it ignores) goes to the [`log`](https://docs.rs/log)
//! crate, so install a logger to see it. Mesa's Vulkan drivers print warnings about
//! `XDG_RUNTIME_DIR` to stderr in containers where it is unset; setting `XDG_RUNTIME_DIR` to a
//! writable directory before the first context quiets them (the `gpuscan` command-line tool
//! does this itself).

mod alloc;
mod array;
mod auto;
pub mod calibrate;
mod context;
mod convert;
mod cpu;
mod data;
mod device;
mod dtype;
mod error;
mod gpu;
pub mod layout;
#[cfg(feature = "ndarray")]
mod nd;
pub mod npy;
mod op;
mod options;
pub mod plan;
mod resident;
pub mod strategy;
pub mod tolerance;

pub use array::{Array, ArrayView, ArrayViewMut};
pub use auto::AutoPolicy;
pub use context::{Context, ContextOptions, DEFAULT_AUTO_THRESHOLD};
pub use data::{Data, DataMut, DataRef};
pub use device::{DeviceRequest, STORAGE_BUFFERS_PER_PASS};
pub use dtype::{DType, Element};
pub use error::{Error, GpuErrorKind, LimitOrigin, Result};
pub use gpu::{Counters, Faults, ProbeReport};
pub use op::ScanOp;
pub use options::{AxisIndex, Cumsum, Device, Order, Scan, Strategy};
pub use resident::GpuArray;

#[cfg(feature = "ndarray")]
pub use nd::{Promote, ScanExt};
#[cfg(feature = "ndarray")]
pub use ndarray;
pub use wgpu;

/// The WGSL that the kernels are built from, for inspection and tooling.
pub mod shaders {
    pub use crate::gpu::{module_source, prelude, Items, KernelOp, Params, TileScan, SPIN_LIMIT};
    pub use crate::plan::Pass;
}
