//! Which GPU algorithm [`Strategy::Auto`] runs, per adapter, dtype and shape.
//!
//! | adapter | shape | dtype | algorithm |
//! |---|---|---|---|
//! | hardware GPU (discrete, integrated, virtual, other) | any | any | [`Algorithm::Chained`] |
//! | CPU adapter (lavapipe, SwiftShader) | any | any | [`Algorithm::Blelloch`] |
//!
//! The chained scan moves each element twice (read, write), the floor; reduce-then-scan three
//! times, scan-then-propagate (Blelloch) about four. On hardware GPUs, where memory traffic
//! is the cost, the chained scan is chosen everywhere. On a CPU adapter the shader's
//! instructions are the cost instead, and the Blelloch tree in workgroup memory needs the
//! fewest: on lavapipe (`benches/gpu_table.py --quick --repeats 3`, one run) it was fastest in
//! 8 of 10 cases (float32, int32 and int64 at 2^20 and 2^24 elements, (4096, 4096) along each
//! axis, (2^18, 8) along axis 0, (8, 2^18) along axis 1), by 4 to 30%, and within 8% of the
//! chained scan in the other two. Integers and floats follow the same table.
//!
//! [`Strategy`]'s other values force an algorithm (the CLI's `--strategy`).
//!
//! Two rules override the table:
//! - **In place** (a resident scan whose destination is its source): the chained scan's
//!   fallback reads other tiles' input while their owners write output, so it never runs in
//!   place; reduce-then-scan runs instead, whose workgroups each touch only their own tile
//!   within a dispatch. It moves each element three times instead of two and needs no memory
//!   beyond its tile totals (staging a copy would move it four times and hold a second array).
//! - **Probe failures**: an algorithm that the context's adapter probe found wrong on this
//!   adapter (see [`crate::ProbeReport`]) is left out of `Auto`, which takes the next of
//!   chained, reduce-then-scan, Blelloch instead. A forced strategy still runs.

use crate::options::Strategy;
use crate::plan::Algorithm;

/// `Auto`'s order of preference when the table's choice is excluded.
const PREFERENCE: [Algorithm; 3] = [
    Algorithm::Chained,
    Algorithm::ReduceThenScan,
    Algorithm::Blelloch,
];

/// The algorithm `strategy` means on an adapter of `device_type`, for a scan into another
/// buffer or `in_place`, with `excluded` algorithms left out of `Auto`. Neither the shape nor
/// the dtype enters the table: none changed the ranking measurably.
pub fn select(
    strategy: Strategy,
    device_type: wgpu::DeviceType,
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
                wgpu::DeviceType::Cpu => Algorithm::Blelloch,
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

    #[test]
    fn auto_follows_the_table() {
        for t in [
            DeviceType::DiscreteGpu,
            DeviceType::IntegratedGpu,
            DeviceType::VirtualGpu,
            DeviceType::Other,
        ] {
            assert_eq!(select(Strategy::Auto, t, false, &[]), Algorithm::Chained);
        }
        assert_eq!(
            select(Strategy::Auto, DeviceType::Cpu, false, &[]),
            Algorithm::Blelloch
        );
    }

    #[test]
    fn forced_strategies_are_kept() {
        for (s, a) in [
            (Strategy::Blelloch, Algorithm::Blelloch),
            (Strategy::ReduceThenScan, Algorithm::ReduceThenScan),
            (Strategy::Chained, Algorithm::Chained),
        ] {
            assert_eq!(select(s, DeviceType::Cpu, false, &[]), a);
            assert_eq!(select(s, DeviceType::DiscreteGpu, false, &[]), a);
            assert_eq!(s.name().parse::<Strategy>().unwrap(), s);
        }
        assert!("fastest".parse::<Strategy>().is_err());
    }

    #[test]
    fn in_place_scans_never_run_the_chained_scan() {
        assert_eq!(
            select(Strategy::Auto, DeviceType::DiscreteGpu, true, &[]),
            Algorithm::ReduceThenScan
        );
        for t in [DeviceType::DiscreteGpu, DeviceType::Cpu] {
            assert_eq!(
                select(Strategy::Chained, t, true, &[]),
                Algorithm::ReduceThenScan
            );
        }
        assert_eq!(
            select(Strategy::Blelloch, DeviceType::DiscreteGpu, true, &[]),
            Algorithm::Blelloch
        );
        let rts = [Algorithm::ReduceThenScan];
        assert_eq!(
            select(Strategy::Auto, DeviceType::DiscreteGpu, true, &rts),
            Algorithm::Blelloch
        );
        // On a CPU adapter Auto's Blelloch runs in place as it is.
        assert_eq!(
            select(Strategy::Auto, DeviceType::Cpu, true, &[]),
            Algorithm::Blelloch
        );
    }

    #[test]
    fn auto_skips_algorithms_the_probe_excluded() {
        let gpu = DeviceType::DiscreteGpu;
        let chained = [Algorithm::Chained];
        assert_eq!(
            select(Strategy::Auto, gpu, false, &chained),
            Algorithm::ReduceThenScan
        );
        let two = [Algorithm::Chained, Algorithm::ReduceThenScan];
        assert_eq!(
            select(Strategy::Auto, gpu, false, &two),
            Algorithm::Blelloch
        );
        // A forced strategy runs even when excluded.
        assert_eq!(
            select(Strategy::Chained, gpu, false, &chained),
            Algorithm::Chained
        );
    }
}
