//! Arrays that live on the GPU between scans.

use crate::dtype::DType;
use crate::error::{Error, Result};

/// An array in a GPU buffer: the values of `dtype`, stored as the GPU stores that accumulation
/// dtype (8- and 16-bit ints widened to 32 bits, bool as a `u32` 0 or 1).
///
/// Made by [`crate::Context::upload`], [`crate::Context::cumsum_gpu`] or
/// [`GpuArray::from_buffer`]; read back with [`crate::Context::download`].
#[derive(Debug, Clone)]
pub struct GpuArray {
    pub(crate) buffer: wgpu::Buffer,
    pub(crate) shape: Vec<usize>,
    pub(crate) dtype: DType,
    pub(crate) context: u64,
}

impl GpuArray {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The dtype of the values (also the dtype its scans accumulate in).
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when the array holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer, to bind in the caller's own passes.
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// Bytes per stored element on the GPU.
    pub fn stored_size(dtype: DType) -> u64 {
        crate::gpu::GpuElem::of(dtype).size()
    }

    /// Wraps a caller's buffer, created on `context`'s device with `STORAGE`, `COPY_SRC` and
    /// `COPY_DST` usage, holding `shape` elements of `dtype` in the stored layout.
    pub fn from_buffer(
        context: &crate::Context,
        buffer: wgpu::Buffer,
        shape: &[usize],
        dtype: DType,
    ) -> Result<GpuArray> {
        let needed = crate::context::stored_bytes_of(shape, crate::gpu::GpuElem::of(dtype))?;
        if buffer.size() < needed {
            return Err(Error::InvalidArgument(format!(
                "a buffer of {} bytes cannot hold {shape:?} {dtype} ({needed} bytes)",
                buffer.size()
            )));
        }
        let want = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        if !buffer.usage().contains(want) {
            return Err(Error::InvalidArgument(format!(
                "the buffer's usage {:?} lacks {want:?}",
                buffer.usage()
            )));
        }
        Ok(GpuArray {
            buffer,
            shape: shape.to_vec(),
            dtype,
            context: context.id,
        })
    }
}
