//! The one place that names concrete burn backends. Everything else is generic over `Backend`.

use crate::manifest::BackendKind;
use burn::tensor::backend::Backend;

/// Runs generic code on a chosen backend.
pub trait BackendTask {
    type Output;
    fn run<B: Backend>(self, device: B::Device) -> Self::Output;
}

/// The backend could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("backend `cuda` is not compiled into this binary: rebuild with `cargo build --release --features cuda`")]
    CudaNotCompiled,
    #[error("backend `cuda`: {0}")]
    CudaUnavailable(String),
}

/// Backends compiled into this binary.
pub fn compiled() -> Vec<BackendKind> {
    let mut v = vec![BackendKind::Flex, BackendKind::Ndarray];
    if cfg!(feature = "cuda") {
        v.push(BackendKind::Cuda);
    }
    v
}

/// Dispatches `task` to the backend `kind`.
pub fn dispatch<T: BackendTask>(kind: BackendKind, task: T) -> Result<T::Output, BackendError> {
    match kind {
        BackendKind::Flex => Ok(task.run::<burn::backend::Flex>(Default::default())),
        BackendKind::Ndarray => Ok(task.run::<burn::backend::NdArray<f32>>(Default::default())),
        BackendKind::Cuda => dispatch_cuda(task),
    }
}

#[cfg(not(feature = "cuda"))]
fn dispatch_cuda<T: BackendTask>(_task: T) -> Result<T::Output, BackendError> {
    Err(BackendError::CudaNotCompiled)
}

#[cfg(feature = "cuda")]
fn dispatch_cuda<T: BackendTask>(task: T) -> Result<T::Output, BackendError> {
    Ok(task.run::<burn::backend::Cuda>(Default::default()))
}
