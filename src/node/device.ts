// A GPUDevice in Node through the `webgpu` package (Dawn). Where no GPU driver
// exists Dawn finds no adapter; Chromium's SwiftShader Vulkan driver (a CPU
// emulation) works, so we fall back to it by ourselves and say so.
import { existsSync } from 'node:fs';
import { GPT2TapsError } from '../errors.js';
import { requestDevice } from '../engine/device.js';

const SWIFTSHADER_ICDS = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib64/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
];

const KEEP_ALIVE = Symbol('dawn.node instance');

// Dawn quantises GPU timestamps (to multiples of 65.536 µs) unless this toggle is off;
// the profiler needs them exact (Chromium: --enable-dawn-features=allow_unsafe_apis). Workgroup
// memory is zeroed by Dawn's own shader code rather than the Vulkan extension, which SwiftShader
// runs 30× slower (a 16 KiB array over 1740 workgroups: 1685 ms against 56 ms); still zeroed.
const DAWN_FLAGS = ['disable-dawn-features=timestamp_quantization,use_vulkan_zero_initialize_workgroup_memory_extension'];

export interface NodeDevice { device: GPUDevice; adapterInfo: string; swiftshader: boolean }

export async function nodeDevice(log: (line: string) => void = () => {}): Promise<NodeDevice> {
  let webgpu: typeof import('webgpu');
  try {
    webgpu = await import('webgpu');
  } catch (e) {
    throw new GPT2TapsError(`the "webgpu" npm package (Dawn for Node) could not be loaded: ${(e as Error).message}`, 'run npm install');
  }
  Object.assign(globalThis, webgpu.globals);
  // dawn.node lives as long as the object create() returns: it must outlive the device,
  // or pending GPU promises are dropped and Node exits mid-run. We pin it to the device.
  let gpu = webgpu.create(DAWN_FLAGS);
  let adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  let swiftshader = false;
  if (!adapter && !process.env.VK_ICD_FILENAMES) {
    const icd = SWIFTSHADER_ICDS.find((p) => existsSync(p));
    if (icd) {
      process.env.VK_ICD_FILENAMES = icd;
      gpu = webgpu.create(DAWN_FLAGS);
      adapter = await gpu.requestAdapter();
      swiftshader = !!adapter;
      if (adapter) log(`no GPU adapter found; using SwiftShader (CPU emulation, slow) from ${icd}`);
    }
  }
  if (!adapter) {
    throw new GPT2TapsError(
      'no WebGPU adapter found (Dawn found no GPU driver)',
      'install a Vulkan/Metal/D3D12 GPU driver, or for CPU emulation install Debian\'s chromium and libvulkan1 ' +
        '(apt-get install chromium libvulkan1) so that SwiftShader is at /usr/lib/chromium/vk_swiftshader_icd.json, ' +
        'or point VK_ICD_FILENAMES at a Vulkan ICD',
    );
  }
  const i = adapter.info;
  const adapterInfo = [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / ');
  const device = await requestDevice(adapter);
  Object.defineProperty(device, KEEP_ALIVE, { value: gpu });
  return { device, adapterInfo, swiftshader: swiftshader || /swiftshader/i.test(adapterInfo) };
}
