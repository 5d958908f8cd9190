//! The native half of the `gpuscan` Python package. The Python wrapper (python/gpuscan/)
//! normalises every argument first — any array-like to a C-contiguous, aligned, native-endian
//! array of a dtype gpuscan handles, `out` to one that does not overlap the input — so these
//! functions take plain arrays and still check what they rely on rather than trust it.

use pyo3::prelude::*;

mod arrays;
mod context;
mod errors;
mod options;
mod resident;

#[pymodule]
fn _gpuscan(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<context::PyContext>()?;
    m.add_class::<resident::PyGpuArray>()?;
    m.add_function(wrap_pyfunction!(context::scan, m)?)?;
    m.add_function(wrap_pyfunction!(context::default_context, m)?)?;
    m.add_function(wrap_pyfunction!(context::has_default_context, m)?)?;
    m.add("DEFAULT_AUTO_THRESHOLD", gpuscan::DEFAULT_AUTO_THRESHOLD)?;
    Ok(())
}
