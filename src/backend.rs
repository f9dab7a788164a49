//! The one place that names concrete burn backends. Everything else is generic over `Backend`.

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which burn backend a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// burn-flex: the fastest CPU backend measured here.
    #[default]
    Flex,
    Ndarray,
    Cuda,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Cuda => "cuda",
        })
    }
}

/// Generic code to run on a backend chosen at run time.
pub trait BackendTask {
    type Output;
    fn run<B: Backend>(self, device: B::Device) -> Self::Output;
}

/// The backend could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("backend `cuda` is not compiled into this binary: rebuild with `cargo build --release --features cuda`")]
    CudaNotCompiled,
    #[error("backend `cuda` unavailable: {0}")]
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

/// Dispatches `task` to the backend `kind`. CUDA is probed first, so that a machine without a
/// driver or device gets a clear error instead of a panic inside cubecl's device thread.
pub fn dispatch<T: BackendTask>(kind: BackendKind, task: T) -> Result<T::Output, BackendError> {
    match kind {
        BackendKind::Flex => Ok(task.run::<burn::backend::Flex>(Default::default())),
        BackendKind::Ndarray => Ok(task.run::<burn::backend::NdArray<f32>>(Default::default())),
        BackendKind::Cuda => {
            cuda_probe().map_err(BackendError::CudaUnavailable)?;
            dispatch_cuda(task)
        }
    }
}

/// One line per backend: compiled in or not, and the devices found.
pub fn describe() -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut lines = vec![
        format!("flex     compiled in   cpu, {threads} threads (default backend)"),
        format!("ndarray  compiled in   cpu, {threads} threads"),
    ];
    lines.push(match (cfg!(feature = "cuda"), cuda_probe()) {
        (false, _) => "cuda     not compiled  (build with --features cuda)".to_string(),
        (true, Ok(n)) => format!("cuda     compiled in   {n} device(s) found"),
        (true, Err(why)) => format!("cuda     compiled in   unavailable: {why}"),
    });
    lines
}

#[cfg(not(feature = "cuda"))]
fn dispatch_cuda<T: BackendTask>(_task: T) -> Result<T::Output, BackendError> {
    Err(BackendError::CudaNotCompiled)
}

#[cfg(feature = "cuda")]
fn dispatch_cuda<T: BackendTask>(task: T) -> Result<T::Output, BackendError> {
    Ok(task.run::<burn::backend::Cuda>(Default::default()))
}

/// Number of CUDA devices, or why none can be used.
#[cfg(not(feature = "cuda"))]
pub fn cuda_probe() -> Result<usize, String> {
    Err("not compiled in (build with --features cuda)".into())
}

/// Number of CUDA devices, or why none can be used: looks for the driver library, initializes
/// it, counts devices, and looks for NVRTC (burn's CUDA backend compiles kernels with it).
#[cfg(feature = "cuda")]
pub fn cuda_probe() -> Result<usize, String> {
    use cudarc::driver::result as drv;
    // SAFETY: only tries to dlopen the library by its usual names.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(
            "the CUDA driver library (libcuda.so) was not found: no NVIDIA driver on this machine"
                .into(),
        );
    }
    drv::init().map_err(|e| format!("the CUDA driver failed to initialize: {e:?}"))?;
    let count = drv::device::get_count()
        .map_err(|e| format!("the CUDA driver could not count devices: {e:?}"))?;
    if count <= 0 {
        return Err("the CUDA driver found no GPU".into());
    }
    // SAFETY: as above, a dlopen by name.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err("NVRTC (libnvrtc.so) was not found; burn compiles CUDA kernels at run time with it: add the CUDA toolkit's lib64 to LD_LIBRARY_PATH".into());
    }
    Ok(count as usize)
}

/// Resets the process's peak resident set size (Linux `clear_refs` 5), so that the next
/// `peak_host_memory_bytes` covers one run. Best effort: some kernels refuse it.
pub fn reset_peak_host_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size of this process (VmHWM), where the OS reports it.
pub fn peak_host_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Device memory reserved by the backend's pools. cubecl's pools keep what they reserved
/// during a run, so read right after a run it bounds that run's peak device memory. None for
/// the CPU backends (their memory is the process's, see `peak_host_memory_bytes`).
pub fn device_memory_reserved_bytes(kind: BackendKind) -> Option<u64> {
    match kind {
        BackendKind::Cuda => cuda_memory_reserved(),
        BackendKind::Flex | BackendKind::Ndarray => None,
    }
}

#[cfg(feature = "cuda")]
fn cuda_memory_reserved() -> Option<u64> {
    use burn_cubecl::cubecl::Runtime;
    let client = burn_cubecl::cubecl::cuda::CudaRuntime::client(&Default::default());
    client.memory_usage().ok().map(|m| m.bytes_reserved)
}

#[cfg(not(feature = "cuda"))]
fn cuda_memory_reserved() -> Option<u64> {
    None
}
