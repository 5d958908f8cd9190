//! `gpuscan.Context` and the default context, created on first use that needs one.

use std::sync::{Arc, Mutex, OnceLock};

use gpuscan::{AutoPolicy, Context, ContextOptions, DType, Device};
use numpy::{PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::arrays::{self, dtype_of};
use crate::errors::{to_py, IntoPy};
use crate::options::{self, Args};

/// A gpuscan context: an adapter (or none), its compiled pipelines and its Auto policy.
#[pyclass(name = "Context", module = "gpuscan._gpuscan", frozen)]
pub struct PyContext {
    pub ctx: Arc<Context>,
}

static DEFAULT: Mutex<Option<Arc<Context>>> = Mutex::new(None);

/// A context that never opens a GPU: for empty arrays and `device="cpu"`, so neither opens one.
fn cpu_context() -> &'static Context {
    static CPU: OnceLock<Context> = OnceLock::new();
    CPU.get_or_init(Context::cpu_only)
}

/// The default context, made (without the GIL: opening an adapter takes a while) on first use.
fn default_ctx(py: Python<'_>) -> PyResult<Arc<Context>> {
    py.detach(|| {
        let mut slot = DEFAULT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = Arc::new(Context::new()?);
        *slot = Some(c.clone());
        Ok(c)
    })
    .py(py)
}

/// The default context (created now if it does not exist yet).
#[pyfunction]
pub fn default_context(py: Python<'_>) -> PyResult<PyContext> {
    Ok(PyContext {
        ctx: default_ctx(py)?,
    })
}

/// Whether the default context has been created.
#[pyfunction]
pub fn has_default_context() -> bool {
    DEFAULT.lock().map(|s| s.is_some()).unwrap_or(true)
}

/// An Auto policy from `None` (the context's default), an int (every dtype) or a dict of
/// dtype name to int or None (never).
fn policy(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<AutoPolicy> {
    if let Ok(n) = v.extract::<u64>() {
        return Ok(AutoPolicy::uniform(n));
    }
    let d = v.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err("auto_threshold must be None, an int or a dict of dtype to int")
    })?;
    let mut p = AutoPolicy::never();
    for (k, n) in d.iter() {
        let name: String = k.str()?.extract()?;
        let dt = name.parse::<DType>().py(py)?;
        p.set(dt, n.extract::<Option<u64>>()?);
    }
    Ok(p)
}

#[pymethods]
impl PyContext {
    #[new]
    #[pyo3(signature = (*, device = "auto", adapter = None, strategy = "auto", auto_threshold = None))]
    fn new(
        py: Python<'_>,
        device: &str,
        adapter: Option<String>,
        strategy: &str,
        auto_threshold: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyContext> {
        let device = options::device(py, device)?;
        let mut opts = ContextOptions::default();
        opts.strategy = options::strategy(py, strategy)?;
        if let Some(t) = auto_threshold {
            opts.auto_policy = Some(policy(py, t)?);
        }
        if device == Device::Cpu {
            if adapter.is_some() {
                return Err(PyValueError::new_err("device='cpu' takes no adapter"));
            }
            return Ok(PyContext {
                ctx: Arc::new(Context::cpu_only()),
            });
        }
        let named = adapter.is_some();
        if let Some(name) = adapter {
            opts = opts.adapter_name(name);
        }
        let ctx = py.detach(|| Context::with_options(opts)).py(py)?;
        // A named adapter that is not there is an error, as is a GPU context without one.
        if (named || device == Device::Gpu) && !ctx.has_gpu() {
            let reason = ctx
                .gpu_unavailable_reason()
                .unwrap_or("unknown")
                .to_string();
            return Err(to_py(py, gpuscan::Error::NoAdapter(reason)));
        }
        Ok(PyContext { ctx: Arc::new(ctx) })
    }

    /// The adapter and what the context does with it, as a dict.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let c = &self.ctx;
        d.set_item("has_gpu", c.has_gpu())?;
        d.set_item("gpu_unavailable_reason", c.gpu_unavailable_reason())?;
        if let Some(i) = c.adapter_info() {
            let a = PyDict::new(py);
            a.set_item("name", &i.name)?;
            a.set_item("backend", i.backend.to_string())?;
            a.set_item("device_type", format!("{:?}", i.device_type))?;
            a.set_item("driver", &i.driver)?;
            a.set_item("driver_info", &i.driver_info)?;
            d.set_item("adapter", a)?;
        } else {
            d.set_item("adapter", py.None())?;
        }
        d.set_item("gpu_dtypes", self.gpu_dtypes(py)?)?;
        let t = PyDict::new(py);
        for dt in DType::ALL {
            t.set_item(dt.name(), c.auto_threshold(dt))?;
        }
        d.set_item("auto_threshold", t)?;
        d.set_item("strategy", c.strategy().name())?;
        Ok(d)
    }

    /// The accumulation dtypes this context scans on the GPU.
    fn gpu_dtypes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.ctx.gpu_dtypes().iter().map(|d| d.name()))
    }

    /// Elements from which `device="auto"` scans accumulations of `dtype` on the GPU.
    fn auto_threshold(&self, py: Python<'_>, dtype: &str) -> PyResult<Option<u64>> {
        Ok(self.ctx.auto_threshold(dtype.parse::<DType>().py(py)?))
    }

    /// Replaces the Auto policy: an int for every dtype, or a dict of dtype to int or None.
    fn set_auto_threshold(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.ctx.set_auto_policy(policy(py, value)?);
        Ok(())
    }

    #[getter]
    fn has_gpu(&self) -> bool {
        self.ctx.has_gpu()
    }

    /// Uploads a normalised array (see gpuscan.Context.upload).
    #[pyo3(signature = (a, dtype = None))]
    fn upload(
        &self,
        py: Python<'_>,
        a: &Bound<'_, PyUntypedArray>,
        dtype: Option<&str>,
    ) -> PyResult<crate::resident::PyGpuArray> {
        let dtype = dtype.map(|d| d.parse::<DType>()).transpose().py(py)?;
        let input = arrays::input(a)?;
        let ctx = self.ctx.clone();
        let g = py
            .detach(|| {
                input.with_view(|v| match dtype {
                    Some(d) => ctx.upload_as(v, d),
                    None => ctx.upload(v),
                })
            })
            .py(py)?;
        Ok(crate::resident::PyGpuArray {
            arr: g,
            ctx: self.ctx.clone(),
        })
    }
}

/// One scan of a normalised array (C-contiguous, aligned, native-endian, a dtype gpuscan
/// handles), into a new array or into `out` (normalised the same way and disjoint from `a`).
/// `ctx=None` takes the default context.
#[pyfunction]
#[pyo3(signature = (ctx, a, out, op, axis, dtype, reverse, exclusive, segments, include_initial, device, order, strategy))]
#[allow(clippy::too_many_arguments)]
pub fn scan<'py>(
    py: Python<'py>,
    ctx: Option<&Bound<'py, PyContext>>,
    a: &Bound<'py, PyUntypedArray>,
    out: Option<&Bound<'py, PyUntypedArray>>,
    op: String,
    axis: Option<isize>,
    dtype: Option<String>,
    reverse: bool,
    exclusive: bool,
    segments: Option<Vec<i64>>,
    include_initial: bool,
    device: String,
    order: String,
    strategy: String,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let args = Args {
        op,
        axis,
        dtype,
        reverse,
        exclusive,
        segments,
        include_initial,
        device,
        order,
        strategy,
    };
    let mut s = options::scan(py, &args)?;
    // Empty input and device="cpu" never need an adapter; the empty result may still be
    // non-empty (include_initial), and the CPU gives it.
    let explicit = ctx.map(|c| c.get().ctx.clone());
    let owned;
    let ctx: &Context = if a.len() == 0 || (s.device == Device::Cpu && explicit.is_none()) {
        s = s.device(Device::Cpu);
        cpu_context()
    } else {
        owned = match explicit {
            Some(c) => c,
            None => default_ctx(py)?,
        };
        &owned
    };
    if let Some(o) = out {
        arrays::check_disjoint(a, o)?;
    }
    let input = arrays::input(a)?;
    match out {
        None => {
            let r = py.detach(|| input.with_view(|v| ctx.scan(v, &s))).py(py)?;
            arrays::to_numpy(py, r).map(Some)
        }
        Some(o) if dtype_of(&o.dtype()) == Some(DType::Bool) => {
            // Through a bool temporary of out's shape (see `arrays::output`).
            let mut tmp = gpuscan::Array::zeros(DType::Bool, o.shape()).py(py)?;
            py.detach(|| input.with_view(|v| ctx.scan_into(v, &mut tmp, &s)))
                .py(py)?;
            arrays::write_bool(o, &tmp)?;
            Ok(None)
        }
        Some(o) => {
            let view = arrays::output(o)?;
            py.detach(|| input.with_view(|v| ctx.scan_into(v, view, &s)))
                .py(py)?;
            Ok(None)
        }
    }
}
