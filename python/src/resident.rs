//! Device-resident arrays: upload once, scan many times on the GPU, read back as numpy.

use std::sync::Arc;

use gpuscan::{Context, GpuArray};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::arrays;
use crate::errors::IntoPy;
use crate::options::{self, Args};

/// An array in GPU memory, of the context that uploaded it.
#[pyclass(name = "GpuArray", module = "gpuscan._gpuscan", frozen)]
pub struct PyGpuArray {
    pub arr: GpuArray,
    pub ctx: Arc<Context>,
}

#[pymethods]
impl PyGpuArray {
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.arr.shape())
    }

    #[getter]
    fn dtype(&self) -> &'static str {
        self.arr.dtype().name()
    }

    #[getter]
    fn size(&self) -> usize {
        self.arr.len()
    }

    fn __len__(&self) -> usize {
        self.arr.shape().first().copied().unwrap_or(1)
    }

    /// Reads the array back as a numpy array.
    fn download<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let r = py.detach(|| self.ctx.download(&self.arr)).py(py)?;
        arrays::to_numpy(py, r)
    }

    /// A scan computed on the GPU in this array's dtype, kept on the GPU.
    #[pyo3(signature = (op, axis, reverse, exclusive, segments, include_initial, strategy))]
    #[allow(clippy::too_many_arguments)]
    fn scan(
        &self,
        py: Python<'_>,
        op: String,
        axis: Option<isize>,
        reverse: bool,
        exclusive: bool,
        segments: Option<Vec<i64>>,
        include_initial: bool,
        strategy: String,
    ) -> PyResult<PyGpuArray> {
        let args = Args {
            op,
            axis,
            dtype: None,
            reverse,
            exclusive,
            segments,
            include_initial,
            device: "gpu".into(),
            order: "fast".into(),
            strategy,
        };
        let s = options::scan(py, &args)?;
        let arr = py.detach(|| self.ctx.scan_gpu(&self.arr, &s)).py(py)?;
        Ok(PyGpuArray {
            arr,
            ctx: self.ctx.clone(),
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "GpuArray(shape={:?}, dtype={})",
            self.arr.shape(),
            self.arr.dtype().name()
        )
    }
}
