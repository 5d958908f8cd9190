//! Which GPU algorithm [`Strategy::Auto`] runs, per adapter, dtype and shape.
//!
//! | adapter | shape (as a `rows x cols` column scan) | dtype | algorithm |
//! |---|---|---|---|
//! | hardware GPU (discrete, integrated, virtual, other) | any | any | [`Algorithm::Chained`] |
//! | CPU adapter (lavapipe, SwiftShader) | `cols >= 32`: along a non-last axis with at least 32 lanes side by side | any | [`Algorithm::ReduceThenScan`] |
//! | CPU adapter | otherwise (1-D, the last axis, narrow non-last axes) | any | [`Algorithm::Chained`] |
//!
//! The chained scan moves each element twice (read, write), the floor; reduce-then-scan three
//! times, scan-then-propagate (Blelloch) about four. On hardware GPUs, where memory traffic
//! is the cost, the chained scan is chosen everywhere. On lavapipe (measured with
//! `benches/gpu_table.py --repeats 3`, one run) the chained scan was fastest for 1-D float32
//! and int32 from 2^20 to 2^28 elements, (16384, 16384) along axis 1 and (8, 2^22) along axis
//! 1; reduce-then-scan for (16384, 16384) along axis 0, where a tile holds 32 columns and
//! each look-back waits on 32 columns at once. Other cases were within 5% of each other.
//! Integers and floats follow the same table: their costs differed by less than that.
//!
//! [`Strategy`]'s other values force an algorithm (the CLI's `--strategy`).
//!
//! Two rules override the table:
//! - **In place** (a resident scan whose destination is its source): the chained scan's
//!   fallback reads other tiles' input while their owners write output, so it never runs in
//!   place; reduce-then-scan runs instead, whose workgroups each touch only their own tile
//!   within a dispatch. It moves each element three times instead of two and needs no memory
//!   beyond its tile totals (staging a copy would move it four times and hold a second array).
//! - **Probe failures**: an algorithm that the context's start-up probe found wrong on this
//!   adapter (see [`crate::ProbeReport`]) is left out of `Auto`, which takes the next of
//!   chained, reduce-then-scan, Blelloch instead. A forced strategy still runs.

use crate::options::Strategy;
use crate::plan::{Algorithm, Geometry, MAX_TILE_COLS};

/// `Auto`'s order of preference when the table's choice is excluded.
const PREFERENCE: [Algorithm; 3] = [
    Algorithm::Chained,
    Algorithm::ReduceThenScan,
    Algorithm::Blelloch,
];

/// The algorithm `strategy` means on an adapter of `device_type` for a scan laid out as
/// `geometry`, into another buffer or `in_place`, with `excluded` algorithms left out of
/// `Auto`. The dtype does not enter the table: none changed the ranking measurably.
pub fn select(
    strategy: Strategy,
    device_type: wgpu::DeviceType,
    geometry: &Geometry,
    in_place: bool,
    excluded: &[Algorithm],
) -> Algorithm {
    let unusable = |a: &Algorithm| excluded.contains(a) || (in_place && *a == Algorithm::Chained);
    let chosen = match strategy {
        Strategy::Blelloch => Algorithm::Blelloch,
        Strategy::ReduceThenScan => Algorithm::ReduceThenScan,
        Strategy::Chained => Algorithm::Chained,
        Strategy::Auto => {
            let table = match device_type {
                wgpu::DeviceType::Cpu if geometry.cols >= MAX_TILE_COLS as u64 => {
                    Algorithm::ReduceThenScan
                }
                _ => Algorithm::Chained,
            };
            std::iter::once(table)
                .chain(PREFERENCE)
                .find(|a| !unusable(a))
                .unwrap_or(table)
        }
    };
    if in_place && chosen == Algorithm::Chained {
        Algorithm::ReduceThenScan
    } else {
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wgpu::DeviceType;

    fn geometry(shape: &[usize], axis: Option<isize>) -> Geometry {
        Geometry::resolve(shape, axis).unwrap().0
    }

    #[test]
    fn auto_follows_the_table() {
        let wide = geometry(&[16384, 16384], Some(0));
        let tall = geometry(&[1 << 22, 8], Some(0));
        let flat = geometry(&[1 << 24], None);
        let rows = geometry(&[16384, 16384], Some(1));
        for g in [&wide, &tall, &flat, &rows] {
            for t in [
                DeviceType::DiscreteGpu,
                DeviceType::IntegratedGpu,
                DeviceType::VirtualGpu,
                DeviceType::Other,
            ] {
                assert_eq!(select(Strategy::Auto, t, g, false, &[]), Algorithm::Chained);
            }
        }
        let cpu = DeviceType::Cpu;
        assert_eq!(
            select(Strategy::Auto, cpu, &wide, false, &[]),
            Algorithm::ReduceThenScan
        );
        for g in [&tall, &flat, &rows] {
            assert_eq!(
                select(Strategy::Auto, cpu, g, false, &[]),
                Algorithm::Chained
            );
        }
    }

    #[test]
    fn forced_strategies_are_kept() {
        let g = geometry(&[10], None);
        for (s, a) in [
            (Strategy::Blelloch, Algorithm::Blelloch),
            (Strategy::ReduceThenScan, Algorithm::ReduceThenScan),
            (Strategy::Chained, Algorithm::Chained),
        ] {
            assert_eq!(select(s, DeviceType::Cpu, &g, false, &[]), a);
            assert_eq!(select(s, DeviceType::DiscreteGpu, &g, false, &[]), a);
            assert_eq!(s.name().parse::<Strategy>().unwrap(), s);
        }
        assert!("fastest".parse::<Strategy>().is_err());
    }

    #[test]
    fn in_place_scans_never_run_the_chained_scan() {
        let g = geometry(&[1 << 20], None);
        for s in [Strategy::Auto, Strategy::Chained] {
            for t in [DeviceType::DiscreteGpu, DeviceType::Cpu] {
                assert_eq!(select(s, t, &g, true, &[]), Algorithm::ReduceThenScan);
            }
        }
        assert_eq!(
            select(Strategy::Blelloch, DeviceType::DiscreteGpu, &g, true, &[]),
            Algorithm::Blelloch
        );
        let rts = [Algorithm::ReduceThenScan];
        assert_eq!(
            select(Strategy::Auto, DeviceType::DiscreteGpu, &g, true, &rts),
            Algorithm::Blelloch
        );
    }

    #[test]
    fn auto_skips_algorithms_the_probe_excluded() {
        let g = geometry(&[1 << 20], None);
        let gpu = DeviceType::DiscreteGpu;
        let chained = [Algorithm::Chained];
        assert_eq!(
            select(Strategy::Auto, gpu, &g, false, &chained),
            Algorithm::ReduceThenScan
        );
        let two = [Algorithm::Chained, Algorithm::ReduceThenScan];
        assert_eq!(
            select(Strategy::Auto, gpu, &g, false, &two),
            Algorithm::Blelloch
        );
        // A forced strategy runs even when excluded.
        assert_eq!(
            select(Strategy::Chained, gpu, &g, false, &chained),
            Algorithm::Chained
        );
    }
}
