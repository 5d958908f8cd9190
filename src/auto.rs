//! When [`crate::Device::Auto`] runs a scan on the GPU.

use std::collections::BTreeMap;

use crate::dtype::DType;

/// Per accumulation dtype, the fewest elements for which [`crate::Device::Auto`] uses the GPU;
/// a dtype without a threshold stays on the CPU.
///
/// ```
/// use gpuscan::{AutoPolicy, DType};
/// let mut p = AutoPolicy::uniform(1 << 20);
/// p.set(DType::Float64, None); // float64 never on the GPU
/// assert!(p.use_gpu(DType::Float32, 1 << 20));
/// assert!(!p.use_gpu(DType::Float32, 1000));
/// assert!(!p.use_gpu(DType::Float64, 1 << 30));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoPolicy {
    thresholds: BTreeMap<DType, u64>,
}

impl AutoPolicy {
    /// Never the GPU.
    pub fn never() -> AutoPolicy {
        AutoPolicy::default()
    }

    /// The same threshold for every dtype.
    pub fn uniform(elements: u64) -> AutoPolicy {
        AutoPolicy {
            thresholds: DType::ALL.into_iter().map(|d| (d, elements)).collect(),
        }
    }

    /// The threshold of `dtype` (`None`: never the GPU).
    pub fn threshold(&self, dtype: DType) -> Option<u64> {
        self.thresholds.get(&dtype).copied()
    }

    /// Sets the threshold of `dtype` (`None`: never the GPU).
    pub fn set(&mut self, dtype: DType, elements: Option<u64>) {
        match elements {
            Some(n) => self.thresholds.insert(dtype, n),
            None => self.thresholds.remove(&dtype),
        };
    }

    /// Whether a scan of `elements` values accumulated in `dtype` goes to the GPU.
    pub fn use_gpu(&self, dtype: DType, elements: u64) -> bool {
        self.threshold(dtype).is_some_and(|t| elements >= t)
    }
}
