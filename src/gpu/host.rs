//! Scans of host data: upload, scan and download, pipelined in batches of whole rows.
//!
//! Each batch is one submission: the upload into an input buffer, the scan into the output
//! buffer, the copy into a readback buffer. Two batches are in flight: while the GPU scans
//! batch k, the host reads batch k-1 back and then stages batch k+1, through two input and two
//! readback buffers taken from the pool. The data crosses the host twice per element: once
//! from the source into wgpu's staging memory, once from the mapped readback into the result.

use std::collections::VecDeque;

use super::kernels::{GpuElem, TileScan};
use super::op_wgsl::KernelOp;
use super::pool::Pooled;
use super::{load_stored, stored_bytes, Gpu, GpuErrorKind, Wait};
use crate::array::{Data, DataRef};
use crate::error::{Error, Result};
use crate::layout::Lanes;
use crate::op::ScanOp;
use crate::options::Strategy;
use crate::plan::{plan_lanes, Algorithm, BatchSpec, ScanPlan};

/// Batches in flight at once: one being read back while the next is scanned.
const IN_FLIGHT: usize = 2;

/// A submitted batch: where its result goes and which readback buffer holds it.
struct Submitted {
    index: wgpu::SubmissionIndex,
    slot: usize,
    start: usize,
    end: usize,
    bytes: u64,
}

impl Gpu {
    /// Scans `src` (already in its accumulation dtype) on the GPU into `dst`, a buffer of the
    /// same dtype and length; `dst` is written batch by batch, so on an error it holds part of
    /// the result.
    pub async fn scan_host(
        &self,
        src: &DataRef<'_>,
        dst: &mut Data,
        lanes: &Lanes,
        (op, strategy): (ScanOp, Strategy),
        wait: Wait,
    ) -> Result<()> {
        if lanes.geometry.is_empty() {
            return Ok(());
        }
        let elem = self.supports(src.dtype())?;
        if !super::op_wgsl::runs(op, elem) {
            return Err(Error::InvalidArgument(format!(
                "{op} has no {} loop",
                src.dtype()
            )));
        }
        let (algorithm, tile_scan) = self.method(strategy, false, elem)?;
        let kernel = (KernelOp::new(op, src.dtype()), elem);
        let fail_batch = self.tuning().faults.fail_batch as usize;
        let method = (algorithm, tile_scan);
        self.scan_host_with(src, dst, lanes, kernel, method, (wait, fail_batch))
            .await
    }

    /// Plans every batch of a host scan first, so that bad sizes fail before any GPU work.
    fn plan_batches(
        &self,
        lanes: &Lanes,
        elem: GpuElem,
        algorithm: Algorithm,
    ) -> Result<Vec<(BatchSpec, ScanPlan)>> {
        let geometry = &lanes.geometry;
        let row_bytes = geometry.cols * elem.size();
        self.check_buffer_size(row_bytes, "one row of the scan")?;
        let rows_per_batch = (self.batch_bytes / row_bytes).clamp(1, geometry.rows);
        let batches = geometry.rows.div_ceil(rows_per_batch);
        let mut plans = Vec::with_capacity(batches as usize);
        let mut pending = None;
        for b in 0..batches {
            let first_row = b * rows_per_batch;
            let spec = BatchSpec {
                first_row,
                rows: rows_per_batch.min(geometry.rows - first_row),
                elem_size: elem.size(),
                pending,
                carry_out: b + 1 < batches,
                in_place: false,
            };
            let plan = plan_lanes(lanes, &spec, &self.tile, &self.limits, algorithm)
                .map_err(|e| self.on_device(e))?;
            pending = plan.carry_out.map(|c| c.shift);
            plans.push((spec, plan));
        }
        Ok(plans)
    }

    /// [`Gpu::scan_host`] of data stored as `elem` (and not empty), with the algorithm and
    /// workgroup scan chosen; fails before batch `fail_batch` (from 1; 0: never).
    pub async fn scan_host_with(
        &self,
        src: &DataRef<'_>,
        dst: &mut Data,
        lanes: &Lanes,
        (op, elem): (KernelOp, GpuElem),
        (algorithm, tile_scan): (Algorithm, TileScan),
        (wait, fail_batch): (Wait, usize),
    ) -> Result<()> {
        let geometry = &lanes.geometry;
        let plans = self.plan_batches(lanes, elem, algorithm)?;
        let slots = plans.len().min(IN_FLIGHT);
        let batch_bytes = plans
            .iter()
            .map(|(spec, _)| spec.rows * geometry.cols * elem.size())
            .max()
            .unwrap_or(0)
            .next_multiple_of(4);
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let take = |label, usage| {
            self.pool
                .take((&self.device, &self.queue), label, batch_bytes, usage)
        };
        let (inputs, output, readbacks, workspace) = self.scoped(|| {
            // Exclusive scans copy input rows into the carry buffer.
            let inputs: Vec<Pooled> = (0..slots)
                .map(|_| take("gpuscan input", usage | wgpu::BufferUsages::COPY_SRC))
                .collect();
            let output = take("gpuscan output", usage | wgpu::BufferUsages::COPY_SRC);
            let readbacks: Vec<Pooled> = (0..slots)
                .map(|_| {
                    take(
                        "gpuscan readback",
                        wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    )
                })
                .collect();
            let workspace = self.workspace(plans.iter().map(|(_, p)| p));
            Ok((inputs, output, readbacks, workspace))
        })?;
        let mut in_flight = VecDeque::with_capacity(IN_FLIGHT);
        for (k, (spec, plan)) in plans.iter().enumerate() {
            if k + 1 == fail_batch {
                return Err(Error::Gpu {
                    kind: GpuErrorKind::Mapping,
                    message: format!("injected failure at batch {fail_batch}"),
                    source: None,
                });
            }
            // A reverse scan takes its batches from the end of the data.
            let first = if lanes.reverse {
                geometry.rows - spec.first_row - spec.rows
            } else {
                spec.first_row
            };
            let start = (first * geometry.cols) as usize;
            let end = start + (spec.rows * geometry.cols) as usize;
            let slot = k % slots;
            let submitted = self.scoped(|| {
                let bytes = stored_bytes(src, start, end);
                // The batch that used this slot before has been read back below.
                self.queue.write_buffer(&inputs[slot], 0, &bytes);
                let mut encoder =
                    self.device
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("gpuscan batch"),
                        });
                self.record_plan(
                    &mut encoder,
                    plan,
                    (op, elem),
                    tile_scan,
                    &workspace.buffers(Some(&inputs[slot]), &output),
                );
                let size = bytes.len() as u64;
                encoder.copy_buffer_to_buffer(&output, 0, &readbacks[slot], 0, size);
                Ok(Submitted {
                    index: self.submit(Some(encoder.finish())),
                    slot,
                    start,
                    end,
                    bytes: size,
                })
            })?;
            in_flight.push_back(submitted);
            if in_flight.len() == IN_FLIGHT {
                if let Some(done) = in_flight.pop_front() {
                    self.read_batch(done, &readbacks, dst, wait).await?;
                }
            }
        }
        while let Some(done) = in_flight.pop_front() {
            self.read_batch(done, &readbacks, dst, wait).await?;
        }
        // Every submission has completed and every readback is unmapped: all are free again.
        self.pool
            .put(inputs.into_iter().chain(readbacks).chain([output]));
        self.pool.put(workspace.into_pooled());
        Ok(())
    }

    /// Waits for a submitted batch and copies its result into `dst`.
    async fn read_batch(
        &self,
        batch: Submitted,
        readbacks: &[Pooled],
        dst: &mut Data,
        wait: Wait,
    ) -> Result<()> {
        let buffer = &readbacks[batch.slot];
        self.map_read(buffer, batch.bytes, batch.index, wait)
            .await?;
        self.take_mapped(buffer, batch.bytes, |b| {
            load_stored(dst, batch.start, batch.end, b)
        })
    }
}
