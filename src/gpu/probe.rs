//! The checks a context runs on its adapter before trusting it: how the adapter forms
//! subgroups (once, before the first scan that would use them), and a small scan of each
//! algorithm against an exact host result (before that algorithm's first scan of each element
//! type, so the check reuses the pipelines the scan compiles anyway). Whatever fails is left
//! unused, and the report says why.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use super::kernels::{probe_source, GpuElem, TileScan};
use super::op_wgsl::KernelOp;
use super::{Gpu, Wait};
use crate::array::Data;
use crate::layout::Lanes;
use crate::plan::{Algorithm, Geometry};

/// What a context's probe found on its adapter ([`crate::Context::probe_report`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeReport {
    /// The subgroup size the probe ran with; `None` when subgroups were not probed.
    pub subgroup_size: Option<u32>,
    /// Whether the workgroup scans use subgroup operations.
    pub subgroups: bool,
    /// Whether invocations filled subgroups in local-index order. The kernels do not rely on
    /// it; it is reported for the record.
    pub local_order: Option<bool>,
    /// Why the adapter's subgroups are not used, when it has them.
    pub subgroups_off: Option<String>,
    /// Algorithms left out of [`Strategy::Auto`](crate::Strategy::Auto), each with what went wrong.
    pub excluded: Vec<(Algorithm, String)>,
}

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.subgroups, self.subgroup_size, &self.subgroups_off) {
            (true, Some(size), _) => {
                let order = match self.local_order {
                    Some(true) => "in local-index order",
                    _ => "not in local-index order (handled)",
                };
                write!(f, "subgroup tile scans, size {size}, {order}")?
            }
            (_, _, Some(why)) => write!(f, "shared-memory tile scans ({why})")?,
            _ => write!(f, "shared-memory tile scans")?,
        }
        if self.excluded.is_empty() {
            write!(f, "; every algorithm passed")
        } else {
            for (a, why) in &self.excluded {
                write!(f, "; {} excluded from auto: {why}", a.name())?;
            }
            Ok(())
        }
    }
}

/// How the probed subgroups looked.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub size: u32,
    pub local_order: bool,
}

/// Words the probe kernel reports per invocation.
const WORDS: usize = 8;
/// Workgroups the probe dispatches.
const PROBE_WORKGROUPS: u32 = 4;

/// Checks the probe kernel's report for `workgroups` workgroups of `workgroup_size`: the
/// placement must give every invocation its own position, each subgroup a run of consecutive
/// positions in lane order, and `lane_of` must find every lane. Subgroups of unequal sizes
/// would make float sums depend on scheduling, so they are refused too.
pub(crate) fn check_layout(
    report: &[u32],
    workgroup_size: u32,
) -> std::result::Result<Layout, String> {
    let wg = workgroup_size as usize;
    let mut size = None;
    let mut local_order = true;
    for (w, group) in report.chunks(wg * WORDS).enumerate() {
        let inv: Vec<&[u32]> = group.chunks(WORDS).collect();
        let mut seen = vec![false; wg];
        let mut counts = Vec::new();
        for (local, r) in inv.iter().enumerate() {
            let [l, lane, sg_size, count, rank, position, first, found] =
                [r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]];
            if l as usize != local {
                return Err(format!("workgroup {w}: invocation {local} reported {l}"));
            }
            if !sg_size.is_power_of_two() || !(4..=128).contains(&sg_size) {
                return Err(format!("subgroup size {sg_size} is outside 4..=128"));
            }
            if *size.get_or_insert(sg_size) != sg_size {
                return Err("the subgroup size varies within a dispatch".into());
            }
            if lane >= sg_size || count > sg_size || rank >= count {
                return Err(format!(
                    "invocation {local}: lane {lane}, rank {rank} of {count} active in a subgroup of {sg_size}"
                ));
            }
            if found != lane {
                return Err(format!(
                    "invocation {local}: the lane of rank {rank} was found as {found}, not {lane}"
                ));
            }
            let p = position as usize;
            if p >= wg || std::mem::replace(&mut seen[p], true) {
                return Err(format!(
                    "position {position} is out of range or taken twice"
                ));
            }
            if inv.get(first as usize).map(|f| f[6]) != Some(first) {
                return Err(format!(
                    "invocation {local}: its subgroup's first invocation {first} is not its own first"
                ));
            }
            // Each subgroup, once (at its first member): its members are the invocations that
            // broadcast the same first one.
            if local as u32 == first {
                let members: Vec<&&[u32]> = inv.iter().filter(|m| m[6] == first).collect();
                if members.len() != count as usize {
                    return Err(format!(
                        "subgroup of invocation {first}: {} members, {count} counted",
                        members.len()
                    ));
                }
                let base = position.wrapping_sub(rank);
                for m in &members {
                    let by_lane = members.iter().filter(|o| o[1] < m[1]).count() as u32;
                    if m[4] != by_lane || m[5] != base.wrapping_add(m[4]) {
                        return Err(format!(
                            "subgroup of invocation {first}: positions are not consecutive in lane order"
                        ));
                    }
                }
                counts.push(count);
            }
            local_order &= first + lane == l;
        }
        if counts.windows(2).any(|c| c[0] != c[1]) {
            return Err(format!(
                "subgroups of unequal sizes ({counts:?}) would make float results depend on scheduling"
            ));
        }
    }
    Ok(Layout {
        size: size.unwrap_or(0),
        local_order,
    })
}

/// Runs the probe kernel and checks its report.
fn probe_subgroups(gpu: &Gpu) -> std::result::Result<Layout, String> {
    let wg = gpu.tile.workgroup_size;
    let words = (PROBE_WORKGROUPS * wg) as u64 * WORDS as u64;
    let mut report = vec![0u32; words as usize];
    let run = gpu.scoped(|| {
        let module = gpu
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("gpuscan subgroup probe"),
                source: wgpu::ShaderSource::Wgsl(probe_source(&gpu.tile).into()),
            });
        let pipeline = gpu
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("gpuscan subgroup probe"),
                layout: Some(&gpu.kernels.pipeline_layout),
                module: &module,
                entry_point: Some("subgroup_probe"),
                compilation_options: Default::default(),
                cache: None,
            });
        let params = super::Params {
            dispatch_x: PROBE_WORKGROUPS,
            workgroups: PROBE_WORKGROUPS,
            ..Default::default()
        };
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let uniforms = wgpu::util::DeviceExt::create_buffer_init(
            &gpu.device,
            &wgpu::util::BufferInitDescriptor {
                label: Some("gpuscan subgroup probe parameters"),
                contents: bytemuck::bytes_of(&params),
                usage: wgpu::BufferUsages::UNIFORM,
            },
        );
        let out = gpu.buffer("gpuscan subgroup probe report", 4 * words, usage);
        // The bindings the probe does not use; read-only and read-write ones apart.
        let spare_read = gpu.buffer("gpuscan subgroup probe spare", 16, usage);
        let spare = gpu.buffer("gpuscan subgroup probe spare", 16, usage);
        let buffers = [
            &uniforms,
            &spare_read,
            &spare,
            &out,
            &spare_read,
            &gpu.counters,
            &spare_read,
        ];
        let entries: Vec<wgpu::BindGroupEntry<'_>> = (0u32..)
            .zip(buffers)
            .map(|(binding, buffer)| wgpu::BindGroupEntry {
                binding,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("gpuscan subgroup probe bind group"),
            layout: &gpu.kernels.layout,
            entries: &entries,
        });
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("gpuscan subgroup probe"),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("gpuscan subgroup probe"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(PROBE_WORKGROUPS, 1, 1);
        }
        gpu.submit(Some(encoder.finish()));
        pollster::block_on(gpu.read_back(
            &out,
            4 * words,
            "gpuscan subgroup probe readback",
            Wait::Block,
            |b| report.copy_from_slice(bytemuck::cast_slice(b)),
        ))
    });
    run.map_err(|e| format!("the probe kernel failed: {e}"))?;
    check_layout(&report, wg)
}

/// The test scans: a few tiles along one lane, columns, and many short lanes.
fn test_scans(gpu: &Gpu) -> Vec<(Vec<usize>, Option<isize>)> {
    let t = gpu.tile.tile_len() as usize;
    let rows = gpu.tile.tile_rows(gpu.tile.tile_cols(3)) as usize;
    vec![
        (vec![5 * t + 3], None),
        (vec![3 * rows + 1, 3], Some(0)),
        (vec![t / 3 + 1, 7], Some(1)),
    ]
}

/// Steps of -1, 0 or 1 (0 or 1 for bool) whose every sum over a range stays below 2048 in
/// magnitude: exact in every element type in any summation order, float16 included.
fn steps(n: usize, bool_like: bool) -> Vec<i64> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut walk = 0i64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut step = (state >> 33) as i64 % 3 - 1;
            if bool_like {
                step = step.abs();
            } else if (walk + step).abs() > 1000 {
                step = -step;
            }
            walk += step;
            step
        })
        .collect()
}

/// `v` as data of `elem`'s host dtype.
fn data_of(elem: GpuElem, v: &[i64]) -> Data {
    match elem {
        GpuElem::Bool => Data::Bool(v.iter().map(|&x| x != 0).collect()),
        GpuElem::I32 => Data::Int32(v.iter().map(|&x| x as i32).collect()),
        GpuElem::U32 => Data::UInt32(v.iter().map(|&x| x as u32).collect()),
        GpuElem::I64 => Data::Int64(v.to_vec()),
        GpuElem::U64 => Data::UInt64(v.iter().map(|&x| x as u64).collect()),
        GpuElem::F16 => Data::Float16(v.iter().map(|&x| half::f16::from_f64(x as f64)).collect()),
        GpuElem::F32 => Data::Float32(v.iter().map(|&x| x as f32).collect()),
        GpuElem::F64 => Data::Float64(v.iter().map(|&x| x as f64).collect()),
    }
}

/// One algorithm on the test scans in `elem`: `Err` says the first thing that differed.
fn check_algorithm(
    gpu: &Gpu,
    algorithm: Algorithm,
    tile_scan: TileScan,
    elem: GpuElem,
) -> std::result::Result<(), String> {
    for (shape, axis) in test_scans(gpu) {
        let (geometry, _) =
            Geometry::resolve(&shape, axis).map_err(|e| format!("internal error: {e}"))?;
        let n = geometry.len() as usize;
        let bool_like = elem == GpuElem::Bool;
        let input = steps(n, bool_like);
        let mut want = input.clone();
        let (cols, lane) = (geometry.cols as usize, geometry.lane_len as usize);
        for r in (0..geometry.rows as usize).filter(|r| r % lane != 0) {
            for c in 0..cols {
                let (i, above) = (r * cols + c, (r - 1) * cols + c);
                want[i] = if bool_like {
                    want[i] | want[above]
                } else {
                    want[i] + want[above]
                };
            }
        }
        let source = data_of(elem, &input);
        let mut data = source.clone();
        pollster::block_on(gpu.scan_host_with(
            &source.view(),
            &mut data,
            &Lanes::plain(geometry),
            (KernelOp::SUM, elem),
            (algorithm, tile_scan),
            (Wait::Block, 0),
        ))
        .map_err(|e| format!("{shape:?} axis {axis:?}: {e}"))?;
        if data != data_of(elem, &want) {
            return Err(format!(
                "{shape:?} axis {axis:?}: the {elem:?} result differs from the exact one"
            ));
        }
    }
    Ok(())
}

/// The probes run so far on one context's adapter.
#[derive(Default)]
pub(crate) struct Probe {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The subgroup probe's outcome, once run.
    layout: Option<std::result::Result<Layout, String>>,
    /// Algorithm checks run, by element type: whether they passed.
    checked: HashMap<(Algorithm, GpuElem), bool>,
    report: ProbeReport,
}

impl Probe {
    /// The report so far.
    pub fn report(&self) -> ProbeReport {
        self.lock().report.clone()
    }

    /// The algorithms found wrong so far.
    pub fn excluded(&self) -> Vec<Algorithm> {
        self.lock()
            .report
            .excluded
            .iter()
            .map(|(a, _)| *a)
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `gpu` may use subgroup tile scans: wanted, probed sound, and not turned off by
    /// an algorithm that failed only with them.
    pub fn subgroups(&self, gpu: &Gpu) -> bool {
        if !gpu.subgroups {
            return false;
        }
        let mut state = self.lock();
        if state.layout.is_none() {
            let layout = probe_subgroups(gpu);
            match &layout {
                Ok(l) => {
                    state.report.subgroup_size = Some(l.size);
                    state.report.local_order = Some(l.local_order);
                    state.report.subgroups = true;
                }
                Err(why) => state.report.subgroups_off = Some(why.clone()),
            }
            state.layout = Some(layout);
        }
        state.report.subgroups
    }

    /// Checks `algorithm` in `elem` before its first use, with subgroup tile scans if `gpu`
    /// may use them. Returns the tile scan to use, or `None` when the algorithm is wrong on
    /// this adapter either way (it is then excluded).
    pub fn verify(&self, gpu: &Gpu, algorithm: Algorithm, elem: GpuElem) -> Option<TileScan> {
        let tile_scan = |subgroups: bool| match subgroups && algorithm != Algorithm::Blelloch {
            true => TileScan::Subgroup,
            false => TileScan::Shared,
        };
        let subgroups = self.subgroups(gpu);
        let mut state = self.lock();
        if let Some(&ok) = state.checked.get(&(algorithm, elem)) {
            // Subgroups may have been turned off since.
            return ok.then(|| tile_scan(state.report.subgroups));
        }
        let mut result = check_algorithm(gpu, algorithm, tile_scan(subgroups), elem);
        if let (Err(why), TileScan::Subgroup) = (&result, tile_scan(subgroups)) {
            if check_algorithm(gpu, algorithm, TileScan::Shared, elem).is_ok() {
                state.report.subgroups = false;
                state.report.subgroups_off = Some(format!(
                    "{} failed with subgroup tile scans: {why}",
                    algorithm.name()
                ));
                result = Ok(());
            }
        }
        let ok = result.is_ok();
        state.checked.insert((algorithm, elem), ok);
        if let Err(why) = result {
            state.report.excluded.push((algorithm, why));
        }
        ok.then(|| tile_scan(state.report.subgroups))
    }

    /// Runs every check not yet run, in uint32, and returns the report.
    pub fn run_all(&self, gpu: &Gpu) -> ProbeReport {
        for algorithm in Algorithm::ALL {
            self.verify(gpu, algorithm, GpuElem::U32);
        }
        self.report()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as the kernel would write it, for subgroups given as lists of local indices
    /// (in lane order), claiming positions in the order given.
    fn report(wg: u32, size: u32, subgroups: &[Vec<u32>]) -> Vec<u32> {
        let mut r = vec![0u32; wg as usize * WORDS];
        let mut next = 0;
        for members in subgroups {
            let first = members[0];
            for (rank, &local) in members.iter().enumerate() {
                let i = local as usize * WORDS;
                let lane = rank as u32 * (size / members.len() as u32).max(1);
                r[i..i + WORDS].copy_from_slice(&[
                    local,
                    lane,
                    size,
                    members.len() as u32,
                    rank as u32,
                    next + rank as u32,
                    first,
                    lane,
                ]);
            }
            next += members.len() as u32;
        }
        r
    }

    #[test]
    fn test_steps_stay_exact_in_float16() {
        for n in [1, 1000, 100_000] {
            let s = steps(n, false);
            let mut prefix = vec![0i64];
            for x in &s {
                prefix.push(prefix.last().unwrap() + x);
            }
            // Any range sum is a difference of two prefixes.
            let (lo, hi) = (prefix.iter().min().unwrap(), prefix.iter().max().unwrap());
            assert!(hi - lo < 2048, "n = {n}: range sums up to {}", hi - lo);
            assert!(steps(n, true).iter().all(|&x| x == 0 || x == 1));
        }
    }

    #[test]
    fn local_order_subgroups_pass() {
        let groups: Vec<Vec<u32>> = (0..4).map(|g| (g * 8..g * 8 + 8).collect()).collect();
        let layout = check_layout(&report(32, 8, &groups), 32).unwrap();
        assert_eq!(
            layout,
            Layout {
                size: 8,
                local_order: true
            }
        );
    }

    #[test]
    fn permuted_and_partial_subgroups_pass_when_equal() {
        // Interleaved members, claimed out of order: correct, just not in local order.
        let groups: Vec<Vec<u32>> = vec![
            (0..8).map(|i| 2 * i + 1).collect(),
            (0..8).map(|i| 2 * i).collect(),
        ];
        let layout = check_layout(&report(16, 8, &groups), 16).unwrap();
        assert!(!layout.local_order);
        // One partial subgroup of 8 active lanes spread over a subgroup of 32.
        assert!(check_layout(&report(8, 32, &[(0..8).collect()]), 8).is_ok());
    }

    #[test]
    fn unequal_or_broken_subgroups_fail() {
        let groups = vec![(0..12).collect::<Vec<u32>>(), (12..16).collect()];
        let err = check_layout(&report(16, 16, &groups), 16).unwrap_err();
        assert!(err.contains("unequal"), "{err}");
        let mut r = report(16, 8, &[(0..8).collect(), (8..16).collect()]);
        for local in 8..16 {
            r[local * WORDS + 5] -= 8; // the second subgroup claims the first one's run
        }
        assert!(check_layout(&r, 16).unwrap_err().contains("taken twice"));
        let mut r = report(16, 16, &[(0..16).collect()]);
        r[2 * WORDS + 7] = 9; // lane_of found the wrong lane
        assert!(check_layout(&r, 16).unwrap_err().contains("found"));
        let r = report(16, 256, &[(0..16).collect()]);
        assert!(check_layout(&r, 16).unwrap_err().contains("outside"));
    }
}
