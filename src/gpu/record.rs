//! Turns a [`ScanPlan`] into copies and dispatches on a command encoder.

use wgpu::util::DeviceExt;

use super::kernels::{GpuElem, Params, TileScan};
use super::{load_stored, stored_bytes, Gpu};
use crate::array::Data;
use crate::error::Result;
use crate::options::Strategy;
use crate::plan::{
    plan_scan, Algorithm, BatchSpec, BufferRange, CarryCopy, CarrySource, Chunk, Dispatch,
    Geometry, Level, Pass, ScanPlan,
};

/// The buffers a plan runs on.
pub(crate) struct ScanBuffers<'a> {
    pub data: &'a wgpu::Buffer,
    pub scratch: &'a wgpu::Buffer,
    pub carry: &'a wgpu::Buffer,
    pub pending: &'a wgpu::Buffer,
}

/// The transient buffers a plan needs besides the data.
pub(crate) struct Workspace {
    scratch: wgpu::Buffer,
    carry: wgpu::Buffer,
    pending: wgpu::Buffer,
}

impl Workspace {
    pub fn buffers<'a>(&'a self, data: &'a wgpu::Buffer) -> ScanBuffers<'a> {
        ScanBuffers {
            data,
            scratch: &self.scratch,
            carry: &self.carry,
            pending: &self.pending,
        }
    }
}

enum Step<'a> {
    /// A carry copy; `to_pending` sends the batch's last row to the pending buffer instead of
    /// the carry buffer.
    Copy { copy: CarryCopy, to_pending: bool },
    /// Zeroes a range of the scratch buffer (the chained scan's state).
    Clear(BufferRange),
    Dispatch {
        pass: Pass,
        params: Params,
        items: (&'a wgpu::Buffer, BufferRange),
        aux: (&'a wgpu::Buffer, BufferRange),
        grid: [u32; 2],
    },
}

fn level_params(chunk: &Chunk, level: &Level, offset: u32) -> Params {
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
    }
}

fn carry_params(chunk: &Chunk, shift: u32, dispatch: &Dispatch) -> Params {
    Params {
        rows: 1,
        cols: chunk.cols,
        offset: chunk.elem_offset,
        aux_offset: shift,
        tile_cols: 1,
        tiles_x: 1,
        workgroups: dispatch.workgroups,
        dispatch_x: dispatch.grid[0],
        span: 1,
        base_rows: 1,
        first_head: 0,
        lane_len: 1,
        zero: 0,
    }
}

fn binding(buffer: &wgpu::Buffer, range: BufferRange) -> wgpu::BindingResource<'_> {
    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
        buffer,
        offset: range.offset,
        size: wgpu::BufferSize::new(range.size),
    })
}

impl Gpu {
    /// Allocates the scratch, carry and pending buffers that `plans` need at most.
    pub fn workspace<'p>(&self, plans: impl Iterator<Item = &'p ScanPlan> + Clone) -> Workspace {
        let max = |f: fn(&ScanPlan) -> u64| plans.clone().map(f).max().unwrap_or(4);
        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        Workspace {
            scratch: self.buffer("gpuscan tile totals", max(|p| p.scratch_bytes), storage),
            carry: self.buffer("gpuscan carry", max(|p| p.carry_bytes), storage),
            pending: self.buffer("gpuscan pending row", max(|p| p.pending_bytes), storage),
        }
    }

    /// Records `plan` on `encoder`: carries, tile scans bottom-up, offsets top-down.
    pub fn record_plan(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        plan: &ScanPlan,
        elem: GpuElem,
        tile_scan: TileScan,
        buffers: &ScanBuffers<'_>,
    ) {
        let mut steps = Vec::with_capacity(plan.dispatch_count() + plan.chunks.len() + 1);
        for chunk in &plan.chunks {
            if let Some(carry) = &chunk.carry_in {
                steps.push(Step::Copy {
                    copy: carry.copy,
                    to_pending: false,
                });
                steps.push(Step::Dispatch {
                    pass: Pass::AddCarry,
                    params: carry_params(chunk, carry.copy.shift, &carry.dispatch),
                    items: (buffers.data, chunk.window),
                    aux: (
                        buffers.carry,
                        BufferRange {
                            offset: 0,
                            size: carry.copy.range.size,
                        },
                    ),
                    grid: carry.dispatch.grid,
                });
            }
            // Level 0 works on the chunk's window, upper levels on tile totals in scratch.
            let step = |pass: Pass, level: &Level| {
                let (items, offset) = match level.items {
                    None => ((buffers.data, chunk.window), chunk.elem_offset),
                    Some(range) => ((buffers.scratch, range), 0),
                };
                Step::Dispatch {
                    pass,
                    params: level_params(chunk, level, offset),
                    items,
                    aux: (buffers.scratch, level.totals),
                    grid: level.dispatch.grid,
                }
            };
            for p in &chunk.passes {
                let level = &chunk.levels[p.level];
                if p.pass == Pass::ChainedScan {
                    steps.push(Step::Clear(level.totals));
                }
                steps.push(step(p.pass, level));
            }
        }
        if let Some(out) = &plan.carry_out {
            steps.push(Step::Copy {
                copy: *out,
                to_pending: true,
            });
        }

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
                        CarrySource::Data => buffers.data,
                        CarrySource::Pending => buffers.pending,
                    };
                    let dst = if to_pending {
                        buffers.pending
                    } else {
                        buffers.carry
                    };
                    encoder.copy_buffer_to_buffer(src, copy.range.offset, dst, 0, copy.range.size);
                }
                Step::Clear(range) => {
                    drop(pass.take());
                    encoder.clear_buffer(buffers.scratch, range.offset, Some(range.size));
                }
                Step::Dispatch {
                    pass: kind,
                    items,
                    aux,
                    grid,
                    ..
                } => {
                    let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some("gpuscan scan bind group"),
                        layout: &self.kernels.layout,
                        entries: &[
                            wgpu::BindGroupEntry {
                                binding: 0,
                                resource: binding(
                                    &uniforms,
                                    BufferRange {
                                        offset: slot * stride,
                                        size: std::mem::size_of::<Params>() as u64,
                                    },
                                ),
                            },
                            wgpu::BindGroupEntry {
                                binding: 1,
                                resource: binding(items.0, items.1),
                            },
                            wgpu::BindGroupEntry {
                                binding: 2,
                                resource: binding(aux.0, aux.1),
                            },
                        ],
                    });
                    slot += 1;
                    let pipeline = self.kernels.pipeline(&self.device, kind, elem, tile_scan);
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

    /// Plans an in-place scan of a whole buffer holding `geometry`.
    pub fn plan_resident(
        &self,
        geometry: &Geometry,
        elem: GpuElem,
        algorithm: Algorithm,
    ) -> Result<ScanPlan> {
        plan_scan(
            geometry,
            &BatchSpec {
                first_row: 0,
                rows: geometry.rows,
                elem_size: elem.size(),
                pending: None,
                carry_out: false,
            },
            &self.tile,
            &self.limits,
            algorithm,
        )
    }

    /// Scans host data (already in its accumulation dtype) in place on the GPU: upload, scan and
    /// download, in batches of whole rows when the array is larger than one batch.
    pub fn scan_host(
        &self,
        data: &mut Data,
        geometry: &Geometry,
        strategy: Strategy,
    ) -> Result<()> {
        if geometry.is_empty() {
            return Ok(());
        }
        let elem = self.supports(data.dtype())?;
        let (algorithm, tile_scan) = self.method(strategy, geometry);
        let s = elem.size();
        let row_bytes = geometry.cols * s;
        self.check_buffer_size(row_bytes, "one row of the scan")?;
        let rows_per_batch = (self.batch_bytes / row_bytes).clamp(1, geometry.rows);
        let batches = geometry.rows.div_ceil(rows_per_batch);
        // Plan every batch first, so that bad sizes fail before any GPU work.
        let mut plans = Vec::with_capacity(batches as usize);
        let mut pending = None;
        for b in 0..batches {
            let first_row = b * rows_per_batch;
            let spec = BatchSpec {
                first_row,
                rows: rows_per_batch.min(geometry.rows - first_row),
                elem_size: s,
                pending,
                carry_out: b + 1 < batches,
            };
            let plan = plan_scan(geometry, &spec, &self.tile, &self.limits, algorithm)?;
            pending = plan.carry_out.map(|c| c.shift);
            plans.push((spec, plan));
        }
        let batch_bytes = (rows_per_batch * row_bytes).next_multiple_of(4);
        self.scoped(|| {
            let data_buffer = self.buffer(
                "gpuscan data",
                batch_bytes,
                wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
            );
            let readback = self.buffer(
                "gpuscan readback",
                batch_bytes,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            );
            let workspace = self.workspace(plans.iter().map(|(_, p)| p));
            for (spec, plan) in &plans {
                let start = (spec.first_row * geometry.cols) as usize;
                let end = start + (spec.rows * geometry.cols) as usize;
                let bytes = stored_bytes(data, start, end);
                self.queue.write_buffer(&data_buffer, 0, &bytes);
                let mut encoder =
                    self.device
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("gpuscan batch"),
                        });
                self.record_plan(
                    &mut encoder,
                    plan,
                    elem,
                    tile_scan,
                    &workspace.buffers(&data_buffer),
                );
                let size = bytes.len() as u64;
                drop(bytes);
                encoder.copy_buffer_to_buffer(&data_buffer, 0, &readback, 0, size);
                self.queue.submit([encoder.finish()]);
                self.read_mapped(&readback, size, |b| load_stored(data, start, end, b))?;
            }
            Ok(())
        })
    }
}
