// Requesting a GPUDevice fit for GPT-2, the same way in a browser and in Node: the
// adapter's own buffer limits (GPT-2's wte alone is 154 MB, above WebGPU's default
// 128 MiB binding limit) and timestamp queries where the adapter has them.
import { GPT2TapsError } from '../errors.js';

export const NO_WEBGPU_HINT =
  'WebGPU is needed: use a recent Chrome, Edge or Safari, or Firefox with dom.webgpu.enabled; ' +
  'on Linux Chrome, start it with --enable-unsafe-webgpu (and --enable-features=Vulkan)';

export async function requestDevice(adapter: GPUAdapter, label = 'gpt2-taps'): Promise<GPUDevice> {
  const requiredFeatures: GPUFeatureName[] = [];
  // timestamps for the profiler and the autotuner; subgroups for the kernel variants that use them
  for (const f of ['timestamp-query', 'subgroups'] as GPUFeatureName[]) if (adapter.features.has(f)) requiredFeatures.push(f);
  const device = await adapter.requestDevice({
    label,
    requiredFeatures,
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
    },
  });
  if (!device) throw new GPT2TapsError('the WebGPU adapter returned no device');
  return device;
}

/** A device from navigator.gpu (browsers; Node after installing the webgpu package's globals). */
export async function browserDevice(): Promise<GPUDevice> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new GPT2TapsError('this browser has no WebGPU (navigator.gpu is missing)', NO_WEBGPU_HINT);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new GPT2TapsError('WebGPU is present but no GPU adapter was found', NO_WEBGPU_HINT);
  return requestDevice(adapter);
}
