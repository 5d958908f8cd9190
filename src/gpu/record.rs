//! Turns a [`ScanPlan`] into copies and dispatches on a command encoder.

use wgpu::util::DeviceExt;

use super::kernels::{GpuElem, Items, Params, TileScan};
use super::op_wgsl::KernelOp;
use super::pool::Pooled;
use super::Gpu;
use crate::error::Result;
use crate::layout::Lanes;
use crate::plan::{
    plan_lanes, Algorithm, BatchSpec, BufferRange, CarryCopy, CarrySource, Chunk, Level, Pass,
    ScanPlan,
};

/// The buffers a plan runs on.
pub(crate) struct ScanBuffers<'a> {
    /// Where level 0 reads its items; `None`: in place, from `dst`.
    pub src: Option<&'a wgpu::Buffer>,
    pub dst: &'a wgpu::Buffer,
    pub scratch: &'a wgpu::Buffer,
    pub carry: &'a wgpu::Buffer,
    pub pending: &'a wgpu::Buffer,
    pub offsets: &'a wgpu::Buffer,
}

/// The transient buffers a plan needs besides the data.
pub(crate) struct Workspace {
    scratch: Pooled,
    carry: Pooled,
    pending: Pooled,
    offsets: wgpu::Buffer,
}

impl Workspace {
    /// The pooled buffers, to give back once the GPU is done with them.
    pub fn into_pooled(self) -> Vec<Pooled> {
        vec![self.scratch, self.carry, self.pending]
    }

    pub fn buffers<'a>(
        &'a self,
        src: Option<&'a wgpu::Buffer>,
        dst: &'a wgpu::Buffer,
    ) -> ScanBuffers<'a> {
        ScanBuffers {
            src,
            dst,
            scratch: &self.scratch.buffer,
            carry: &self.carry.buffer,
            pending: &self.pending.buffer,
            offsets: &self.offsets,
        }
    }
}

type Binding<'a> = (&'a wgpu::Buffer, BufferRange);

enum Step<'a> {
    /// A carry copy; `to_pending` sends the batch's last row to the pending buffer instead of
    /// the carry buffer.
    Copy { copy: CarryCopy, to_pending: bool },
    /// Zeroes a range of the scratch buffer (the chained scan's state).
    Clear(BufferRange),
    Dispatch {
        pass: Pass,
        params: Params,
        /// Where items are read; `None`: from `output`, in place.
        input: Option<Binding<'a>>,
        output: Binding<'a>,
        aux: Binding<'a>,
        grid: [u32; 2],
    },
}

fn whole(buffer: &wgpu::Buffer) -> Binding<'_> {
    (
        buffer,
        BufferRange {
            offset: 0,
            size: buffer.size(),
        },
    )
}

fn binding(buffer: &wgpu::Buffer, range: BufferRange) -> wgpu::BindingResource<'_> {
    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
        buffer,
        offset: range.offset,
        size: wgpu::BufferSize::new(range.size),
    })
}

impl Gpu {
    /// Takes from the pool the scratch, carry and pending buffers that `plans` need at most,
    /// and makes the segment offsets they search (every plan of one scan has the same).
    pub fn workspace<'p>(&self, plans: impl Iterator<Item = &'p ScanPlan> + Clone) -> Workspace {
        let max = |f: fn(&ScanPlan) -> u64| plans.clone().map(f).max().unwrap_or(4);
        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let offsets = plans
            .clone()
            .find_map(|p| p.segments.as_deref())
            .unwrap_or(&[0]);
        let take = |label, size| {
            self.pool
                .take((&self.device, &self.queue), label, size, storage)
        };
        Workspace {
            scratch: take("gpuscan tile totals", max(|p| p.scratch_bytes)),
            carry: take("gpuscan carry", max(|p| p.carry_bytes)),
            pending: take("gpuscan pending row", max(|p| p.pending_bytes)),
            offsets: self
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("gpuscan segment offsets"),
                    contents: bytemuck::cast_slice(offsets),
                    usage: wgpu::BufferUsages::STORAGE,
                }),
        }
    }

    /// The parameters of one level's dispatch; level 0 of a chunk with a carry continues it,
    /// and only level 0 (the chunk's own rows) is mirrored or stored exclusive.
    fn level_params(
        &self,
        plan: &ScanPlan,
        chunk: &Chunk,
        level: &Level,
        offset: u32,
        carry: bool,
    ) -> Params {
        let tuning = self.tuning();
        let base = level.items.is_none();
        let segments = plan.segments.as_deref().unwrap_or(&[]);
        Params {
            rows: level.rows,
            cols: chunk.cols,
            offset,
            aux_offset: 0,
            tile_cols: chunk.tile_cols,
            tiles_x: chunk.tiles_x,
            workgroups: level.dispatch.workgroups,
            dispatch_x: level.dispatch.grid[0],
            span: level.span,
            base_rows: chunk.rows,
            first_head: chunk.first_head,
            lane_len: chunk.lane_len.max(1),
            zero: 0,
            carry: u32::from(carry),
            carry_offset: chunk.carry_in.map_or(0, |c| c.shift),
            spin_limit: tuning.spin_limit,
            unpublished_mask: tuning.faults.unpublished_mask,
            publish_late: u32::from(tuning.faults.publish_late),
            delay_seed: tuning.faults.delay_seed,
            flip: u32::from(plan.reverse && base),
            exclusive: u32::from(plan.exclusive && base),
            segments: segments.len() as u32,
            seg_lane_len: segments.last().copied().unwrap_or(0),
            lane_pos: chunk.lane_pos,
            carry_input_offset: chunk.carry_input_offset,
        }
    }

    /// The copies and dispatches of `plan`: per chunk its carry, then its passes.
    fn steps<'a>(&self, plan: &ScanPlan, buffers: &ScanBuffers<'a>) -> Vec<Step<'a>> {
        let mut steps = Vec::with_capacity(plan.dispatch_count() + 2 * plan.chunks.len() + 1);
        for chunk in &plan.chunks {
            for copy in [chunk.carry_in, chunk.carry_in_input].into_iter().flatten() {
                steps.push(Step::Copy {
                    copy,
                    to_pending: false,
                });
            }
            for p in &chunk.passes {
                let level = &chunk.levels[p.level];
                if p.pass == Pass::ChainedScan {
                    steps.push(Step::Clear(level.totals));
                }
                // Level 0 reads the chunk's source window (or its destination, in place) and
                // writes its destination window; upper levels scan tile totals in scratch.
                let (input, output, offset) = match level.items {
                    None => (
                        buffers.src.map(|b| (b, chunk.source)),
                        (buffers.dst, chunk.destination),
                        chunk.elem_offset,
                    ),
                    Some(range) => (None, (buffers.scratch, range), 0),
                };
                let carry = chunk.carry_in.is_some() && level.items.is_none();
                steps.push(Step::Dispatch {
                    pass: p.pass,
                    params: self.level_params(plan, chunk, level, offset, carry),
                    // add_offsets works on what its level wrote.
                    input: input.filter(|_| p.pass != Pass::AddOffsets),
                    output,
                    aux: (buffers.scratch, level.totals),
                    grid: level.dispatch.grid,
                });
            }
        }
        for copy in [plan.carry_out, plan.carry_out_input].into_iter().flatten() {
            steps.push(Step::Copy {
                copy,
                to_pending: true,
            });
        }
        steps
    }

    /// Records `plan` on `encoder`: per chunk its carry copy, tile scans bottom-up, offsets
    /// top-down.
    pub fn record_plan(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        plan: &ScanPlan,
        (op, elem): (KernelOp, GpuElem),
        tile_scan: TileScan,
        buffers: &ScanBuffers<'_>,
    ) {
        let steps = self.steps(plan, buffers);

        // One uniform buffer holds the parameters of every dispatch.
        let stride = (std::mem::size_of::<Params>() as u64)
            .next_multiple_of(self.device.limits().min_uniform_buffer_offset_alignment as u64);
        let mut bytes = Vec::new();
        for step in &steps {
            if let Step::Dispatch { params, .. } = step {
                let start = bytes.len();
                bytes.extend_from_slice(bytemuck::bytes_of(params));
                bytes.resize(start + stride as usize, 0);
            }
        }
        if bytes.is_empty() {
            bytes.resize(stride as usize, 0);
        }
        let uniforms = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("gpuscan dispatch parameters"),
                contents: &bytes,
                usage: wgpu::BufferUsages::UNIFORM,
            });

        let mut pass: Option<wgpu::ComputePass<'_>> = None;
        let mut slot = 0u64;
        for step in steps {
            match step {
                Step::Copy { copy, to_pending } => {
                    drop(pass.take());
                    let src = match copy.source {
                        CarrySource::Output => buffers.dst,
                        CarrySource::Pending | CarrySource::PendingInput => buffers.pending,
                        CarrySource::Input => buffers.src.unwrap_or(buffers.dst),
                    };
                    let dst = if to_pending {
                        buffers.pending
                    } else {
                        buffers.carry
                    };
                    encoder.copy_buffer_to_buffer(
                        src,
                        copy.range.offset,
                        dst,
                        copy.to,
                        copy.range.size,
                    );
                }
                Step::Clear(range) => {
                    drop(pass.take());
                    encoder.clear_buffer(buffers.scratch, range.offset, Some(range.size));
                }
                Step::Dispatch {
                    pass: kind,
                    input,
                    output,
                    aux,
                    grid,
                    ..
                } => {
                    let items = if input.is_some() {
                        Items::OutOfPlace
                    } else {
                        Items::InPlace
                    };
                    // In place nothing reads `src`; it takes the (read-only) carry row.
                    let input = input.unwrap_or_else(|| whole(buffers.carry));
                    let params = BufferRange {
                        offset: slot * stride,
                        size: std::mem::size_of::<Params>() as u64,
                    };
                    let resources = [
                        (0, (&uniforms, params)),
                        (1, input),
                        (2, output),
                        (3, aux),
                        (4, whole(buffers.carry)),
                        (5, whole(&self.counters)),
                        (6, whole(buffers.offsets)),
                    ];
                    let entries =
                        resources.map(|(binding_index, (buffer, range))| wgpu::BindGroupEntry {
                            binding: binding_index,
                            resource: binding(buffer, range),
                        });
                    let label = format!("gpuscan {} bind group", kind.entry_point());
                    let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some(&label),
                        layout: &self.kernels.layout,
                        entries: &entries,
                    });
                    slot += 1;
                    let pipeline =
                        self.kernels
                            .pipeline(&self.device, kind, op, elem, tile_scan, items);
                    let p = pass.get_or_insert_with(|| {
                        encoder
                            .begin_compute_pass(&wgpu::ComputePassDescriptor {
                                label: Some("gpuscan scan"),
                                timestamp_writes: None,
                            })
                            .forget_lifetime()
                    });
                    p.set_pipeline(&pipeline);
                    p.set_bind_group(0, &bind_group, &[]);
                    p.dispatch_workgroups(grid[0], grid[1], 1);
                }
            }
        }
    }

    /// Plans the scan of a whole buffer holding `geometry` into another, or into itself when
    /// `in_place`.
    pub fn plan_resident(
        &self,
        lanes: &Lanes,
        elem: GpuElem,
        algorithm: Algorithm,
        in_place: bool,
    ) -> Result<ScanPlan> {
        plan_lanes(
            lanes,
            &BatchSpec {
                first_row: 0,
                rows: lanes.geometry.rows,
                elem_size: elem.size(),
                pending: None,
                carry_out: false,
                in_place,
            },
            &self.tile,
            &self.limits,
            algorithm,
        )
        .map_err(|e| self.on_device(e))
    }
}
