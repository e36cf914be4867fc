//! The GPU context: adapter, device and queue created once, what they can do,
//! compiled pipelines kept by name, and reading buffers back.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};

use crate::error::{Error, Result};
use crate::gpu::GpuInfo;

/// How to open the GPU.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// Split tensors into buffers of at most this many bytes even if the
    /// device allows larger bindings (tests use it to exercise splitting on a
    /// device whose limit is far above the tensors they can afford).
    pub max_binding_bytes: Option<u64>,
}

/// A device and queue with the facts the kernels need.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: GpuInfo,
    /// Largest buffer a kernel may bind: the device's storage-binding and
    /// buffer limits, or less if asked.
    pub max_binding: u64,
    pipelines: Mutex<HashMap<String, Arc<wgpu::ComputePipeline>>>,
}

pub(crate) fn gpu_err(what: impl std::fmt::Display) -> Error {
    Error::Gpu(what.to_string())
}

impl GpuContext {
    /// Open the best adapter. Errors (with the reason in words) when there is
    /// none: the caller decides whether that means the CPU.
    pub async fn new(options: GpuOptions) -> Result<GpuContext> {
        #[cfg(target_arch = "wasm32")]
        if !wgpu::util::is_browser_webgpu_supported().await {
            return Err(gpu_err("this browser does not offer WebGPU"));
        }
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::all(),
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| gpu_err(format!("no GPU adapter was found ({e})")))?;
        let a_info = adapter.get_info();
        let features = adapter.features();
        let limits = adapter.limits();
        // rope_store.wgsl binds six storage buffers; WebGPU guarantees eight.
        if limits.max_storage_buffers_per_shader_stage < 6 {
            return Err(gpu_err(format!(
                "{} offers {} storage buffers per shader stage; the kernels need 6",
                a_info.name, limits.max_storage_buffers_per_shader_stage
            )));
        }
        // Ask for the adapter's own buffer limits: the defaults (128 MiB
        // bindings) would split tensors that the device could bind whole.
        let required_limits = wgpu::Limits {
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            max_storage_buffers_per_shader_stage: limits
                .max_storage_buffers_per_shader_stage
                .min(8),
            ..wgpu::Limits::downlevel_defaults()
        };
        // The kernels read f16 through unpack2x16float and reduce through
        // workgroup memory, so they need neither shader-f16 (SwiftShader
        // lacks it) nor subgroups; both are reported for the record.
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("webquant"),
                required_features: wgpu::Features::empty(),
                required_limits,
                ..Default::default()
            })
            .await
            .map_err(|e| gpu_err(format!("the GPU refused a device ({e})")))?;
        let device_max = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let max_binding = options
            .max_binding_bytes
            .map_or(device_max, |m| m.min(device_max))
            // The kernels address bytes with u32.
            .min(u32::MAX as u64)
            // Whole words, as the kernels read them.
            & !3;
        let info = GpuInfo {
            available: true,
            software: super::is_software(&a_info),
            name: a_info.name,
            backend: format!("{:?}", a_info.backend),
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            subgroups: features.contains(wgpu::Features::SUBGROUP),
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            reason: None,
        };
        Ok(GpuContext {
            device,
            queue,
            info,
            max_binding,
            pipelines: Mutex::new(HashMap::new()),
        })
    }

    /// The compute pipeline named `key`, compiled from `source()` the first
    /// time it is asked for.
    pub(crate) fn pipeline(
        &self,
        key: &str,
        source: impl FnOnce() -> String,
    ) -> Arc<wgpu::ComputePipeline> {
        let mut cache = self
            .pipelines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(p) = cache.get(key) {
            return p.clone();
        }
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(key),
                source: wgpu::ShaderSource::Wgsl(source().into()),
            });
        let p = Arc::new(
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(key),
                    layout: None,
                    module: &module,
                    entry_point: Some("main"),
                    compilation_options: Default::default(),
                    cache: None,
                }),
        );
        cache.insert(key.to_string(), p.clone());
        p
    }

    /// A storage buffer holding `bytes`, padded by at least one word (the
    /// kernels' unaligned reads may look one word past the data).
    pub(crate) fn storage_init(&self, label: &str, bytes: &[u8]) -> Result<wgpu::Buffer> {
        let size = (bytes.len() as u64 + 4).next_multiple_of(4);
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        buf.slice(..)
            .get_mapped_range_mut()
            .map_err(gpu_err)?
            .slice(..bytes.len())
            .copy_from_slice(bytes);
        buf.unmap();
        Ok(buf)
    }

    /// A zeroed f32 storage buffer of `n` values.
    pub(crate) fn storage(&self, label: &str, n: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (4 * n.max(1)) as u64,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        })
    }

    pub(crate) fn uniform(&self, label: &str, words: &[u32]) -> Result<wgpu::Buffer> {
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            // Uniform structs are padded to 16 bytes.
            size: (4 * words.len() as u64).next_multiple_of(16),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: true,
        });
        buf.slice(..)
            .get_mapped_range_mut()
            .map_err(gpu_err)?
            .slice(..4 * words.len())
            .copy_from_slice(bytemuck::cast_slice(words));
        buf.unmap();
        Ok(buf)
    }

    /// A buffer the CPU can map for reading, `bytes` long.
    pub(crate) fn staging(&self, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("staging"),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Wait for the GPU to finish what was submitted and read `n` f32 from
    /// the start of a staging buffer. Natively the wait blocks in `poll`; in
    /// the browser the future resolves when WebGPU calls back.
    pub(crate) async fn read_f32(&self, staging: &wgpu::Buffer, n: usize) -> Result<Vec<f32>> {
        let bytes = (4 * n as u64).max(4);
        let slice = staging.slice(..bytes);
        let (tx, rx) = oneshot();
        slice.map_async(wgpu::MapMode::Read, move |r| tx.send(r));
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| gpu_err(format!("waiting for the GPU failed ({e})")))?;
        rx.await
            .map_err(|e| gpu_err(format!("reading back from the GPU failed ({e})")))?;
        let out = {
            let view = slice.get_mapped_range().map_err(gpu_err)?;
            bytemuck::cast_slice::<u8, f32>(&view)[..n].to_vec()
        };
        staging.unmap();
        Ok(out)
    }
}

/// A one-value channel whose receiving end is a future: map_async's callback
/// runs on another thread natively and from the event loop in the browser.
fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new((None, None)));
    (Sender(shared.clone()), Receiver(shared))
}

type Slot<T> = Arc<Mutex<(Option<T>, Option<Waker>)>>;

struct Sender<T>(Slot<T>);
struct Receiver<T>(Slot<T>);

impl<T> Sender<T> {
    fn send(self, value: T) {
        let mut s = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.0 = Some(value);
        if let Some(w) = s.1.take() {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<T> {
        let mut s = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match s.0.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
