//! GPU access through wgpu: natively Vulkan / Metal / DX12, in the browser
//! WebGPU. `probe` reports what the adapter can do; `GpuContext` opens it
//! once; `kernels` holds the WGSL kernels (matrix-vector and matrix-matrix
//! products on ggml blocks as stored in GGUF, RMSNorm, RoPE, attention,
//! SwiGLU) and their dispatch. This is the device layer: it knows blocks and
//! buffers, not models; `model::gpu_forward` builds a Llama forward pass
//! from these kernels.
//!
//! The same async code runs natively (driven by pollster) and in the browser.

#[cfg(all(test, target_arch = "wasm32", feature = "gpu-browser-tests"))]
mod browser_tests;
mod context;
pub mod kernels;
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod tests;

pub(crate) use context::gpu_err;
pub use context::{GpuContext, GpuOptions};
pub use kernels::{GpuMatrix, MatMul, MatVec};

use serde::Serialize;

/// Where a model runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    /// The GPU when there is a hardware one that can run the model, else
    /// the CPU (a software adapter such as lavapipe is slower than the CPU
    /// path, so it is used only when asked for with `Gpu`).
    #[default]
    Auto,
    Cpu,
    /// The GPU or an error.
    Gpu,
}

impl std::str::FromStr for Device {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Device> {
        match s {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "gpu" => Ok(Device::Gpu),
            _ => Err(crate::Error::invalid(format!(
                "device {s:?}: expected auto, cpu or gpu"
            ))),
        }
    }
}

/// What the GPU adapter offers, or why there is none.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GpuInfo {
    pub available: bool,
    /// Adapter name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)" or "SwiftShader".
    pub name: String,
    pub backend: String,
    /// The adapter emulates a GPU on the CPU (lavapipe, SwiftShader, WARP):
    /// it runs the kernels, but more slowly than the CPU path.
    pub software: bool,
    pub shader_f16: bool,
    pub subgroups: bool,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    /// Why no adapter is available, in a sentence for people.
    pub reason: Option<String>,
}

impl GpuInfo {
    fn unavailable(reason: impl Into<String>) -> Self {
        GpuInfo {
            available: false,
            name: String::new(),
            backend: String::new(),
            software: false,
            shader_f16: false,
            subgroups: false,
            max_storage_buffer_binding_size: 0,
            max_buffer_size: 0,
            reason: Some(reason.into()),
        }
    }
}

/// Whether the adapter emulates a GPU on the CPU. Browsers do not report
/// WebGPU device types, so the names of the common emulators count too.
pub(crate) fn is_software(info: &wgpu::AdapterInfo) -> bool {
    let name = info.name.to_lowercase();
    info.device_type == wgpu::DeviceType::Cpu
        || [
            "swiftshader",
            "llvmpipe",
            "lavapipe",
            "microsoft basic render",
        ]
        .iter()
        .any(|n| name.contains(n))
}

/// Look for an adapter. Never fails: a missing GPU is a normal answer.
pub async fn probe() -> GpuInfo {
    #[cfg(target_arch = "wasm32")]
    if !wgpu::util::is_browser_webgpu_supported().await {
        return GpuInfo::unavailable(
            "This browser does not offer WebGPU; models run on the CPU (WebAssembly).",
        );
    }
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::all(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapter = match instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        })
        .await
    {
        Ok(a) => a,
        Err(e) => {
            return GpuInfo::unavailable(format!(
                "No GPU adapter was found ({e}); models run on the CPU."
            ))
        }
    };
    let info = adapter.get_info();
    let features = adapter.features();
    let limits = adapter.limits();
    GpuInfo {
        available: true,
        software: is_software(&info),
        name: info.name,
        backend: format!("{:?}", info.backend),
        shader_f16: features.contains(wgpu::Features::SHADER_F16),
        subgroups: features.contains(wgpu::Features::SUBGROUP),
        max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
        max_buffer_size: limits.max_buffer_size,
        reason: None,
    }
}
