//! The keyword arguments of the Python functions as a [`Scan`].

use gpuscan::{DType, Device, Order, Scan, ScanOp, Strategy};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::IntoPy;

/// The operation named as the Python function is.
pub fn op(name: &str) -> PyResult<(ScanOp, bool)> {
    Ok(match name {
        "cumsum" => (ScanOp::Sum, false),
        "cumprod" => (ScanOp::Prod, false),
        "nancumsum" => (ScanOp::NanSum, false),
        "nancumprod" => (ScanOp::NanProd, false),
        "cummax" => (ScanOp::Max, false),
        "cummin" => (ScanOp::Min, false),
        "logcumsumexp" => (ScanOp::LogAddExp, false),
        "cumulative_sum" => (ScanOp::Sum, true),
        "cumulative_prod" => (ScanOp::Prod, true),
        _ => return Err(PyValueError::new_err(format!("unknown scan '{name}'"))),
    })
}

/// What every scan call takes besides its arrays.
pub struct Args {
    pub op: String,
    pub axis: Option<isize>,
    pub dtype: Option<String>,
    pub reverse: bool,
    pub exclusive: bool,
    pub segments: Option<Vec<i64>>,
    pub include_initial: bool,
    pub device: String,
    pub order: String,
    pub strategy: String,
}

pub fn device(py: Python<'_>, s: &str) -> PyResult<Device> {
    s.parse::<Device>().py(py)
}

pub fn strategy(py: Python<'_>, s: &str) -> PyResult<Strategy> {
    s.parse::<Strategy>().py(py)
}

/// The [`Scan`] these arguments describe.
pub fn scan(py: Python<'_>, a: &Args) -> PyResult<Scan> {
    let (op, cumulative) = op(&a.op)?;
    let mut s = match (op, cumulative) {
        (ScanOp::Sum, true) => Scan::cumulative_sum(),
        (ScanOp::Prod, true) => Scan::cumulative_prod(),
        (op, _) => Scan::new(op),
    };
    s = match a.axis {
        Some(k) => s.axis(k),
        None => s.flatten(),
    };
    if let Some(d) = &a.dtype {
        s = s.dtype(d.parse::<DType>().py(py)?);
    }
    if let Some(seg) = &a.segments {
        s = s.segments(seg.clone());
    }
    Ok(s.reverse(a.reverse)
        .exclusive(a.exclusive)
        .include_initial(a.include_initial)
        .device(device(py, &a.device)?)
        .order(a.order.parse::<Order>().py(py)?)
        .strategy(strategy(py, &a.strategy)?))
}
