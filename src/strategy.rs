//! Which GPU algorithm [`Strategy::Auto`] runs, per adapter, dtype and shape.
//!
//! | adapter | dtype | shape | algorithm |
//! |---|---|---|---|
//! | any | any | any | [`Algorithm::Chained`] |
//!
//! Every algorithm reads and writes whole rows of neighbouring lanes (tiles span up to 32
//! neighbouring columns), so one table serves wide and tall shapes along any axis.
//! [`Strategy`]'s other values force an algorithm (the CLI's `--strategy`).

use crate::options::Strategy;
use crate::plan::{Algorithm, Geometry};

/// The algorithm `strategy` means on an adapter of `device_type` for elements of `elem_size`
/// bytes laid out as `geometry`.
pub fn select(
    strategy: Strategy,
    device_type: wgpu::DeviceType,
    elem_size: u64,
    geometry: &Geometry,
) -> Algorithm {
    let _ = (device_type, elem_size, geometry);
    match strategy {
        Strategy::Blelloch => Algorithm::Blelloch,
        Strategy::ReduceThenScan => Algorithm::ReduceThenScan,
        Strategy::Chained | Strategy::Auto => Algorithm::Chained,
    }
}
