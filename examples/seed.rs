//! Prints numpy's two reference examples, computed on the GPU when there is one.
use gpuscan::{Array, Context, Cumsum, Device};

fn main() -> Result<(), gpuscan::Error> {
    let ctx = Context::new()?;
    let device = match ctx.adapter_info() {
        Some(info) => {
            eprintln!("adapter: {} ({:?})", info.name, info.backend);
            Device::Gpu
        }
        None => {
            eprintln!("no GPU: {}", ctx.gpu_unavailable_reason().unwrap_or(""));
            Device::Cpu
        }
    };
    let a = Array::from_vec(vec![5i64, 6, 7, 8, 9, 10, 11, 12, 19, 25]);
    println!("{}", ctx.cumsum(&a, &Cumsum::new().device(device))?);
    let m = Array::from_shape_vec(&[4, 3], vec![1i64, 4, 0, 7, 0, 9, 5, 0, 3, 12, 0, 5])?;
    println!("{}", ctx.cumsum(&m, &Cumsum::new().axis(1).device(device))?);
    Ok(())
}
