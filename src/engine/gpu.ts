// Small WebGPU helpers shared by the model and the tests: tracked buffer creation,
// pipeline creation inside error scopes with shader messages that name the kernel
// and line, and one-dispatch-per-pass encoding (for tests, the microbenchmarks and the demo;
// the model batches its dispatches itself).
import { GPT2TapsError } from '../errors.js';

/** Creates and destroys GPU buffers, counting what is alive (for leak checks and dispose()). */
export class BufferPool {
  private readonly live = new Map<GPUBuffer, number>();
  constructor(readonly device: GPUDevice) {}

  create(label: string, size: number, usage: GPUBufferUsageFlags): GPUBuffer {
    const bytes = Math.max(16, Math.ceil(size / 16) * 16);
    const limit = this.device.limits.maxBufferSize;
    if (bytes > limit) {
      throw new GPT2TapsError(`buffer "${label}" needs ${bytes} bytes, above this device's maxBufferSize (${limit})`);
    }
    const buffer = this.device.createBuffer({ label, size: bytes, usage });
    this.live.set(buffer, bytes);
    return buffer;
  }

  /** A storage buffer filled with `data`. */
  upload(label: string, data: Float32Array | Uint32Array, usage: GPUBufferUsageFlags = GPUBufferUsage.STORAGE): GPUBuffer {
    const buffer = this.create(label, data.byteLength, usage | GPUBufferUsage.COPY_DST);
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return buffer;
  }

  destroy(buffer: GPUBuffer | undefined): void {
    if (!buffer || !this.live.has(buffer)) return;
    this.live.delete(buffer);
    buffer.destroy();
  }

  destroyAll(): void {
    for (const b of [...this.live.keys()]) this.destroy(b);
  }

  get stats(): { buffers: number; bytes: number } {
    let bytes = 0;
    for (const n of this.live.values()) bytes += n;
    return { buffers: this.live.size, bytes };
  }
}

export type Access = 'read' | 'read_write' | 'uniform';
export interface BindingDecl { binding: number; name: string; access: Access }

export interface Kernel {
  name: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  bindings: BindingDecl[];
}

/** Formats shader compilation messages with the offending line, as toji's debug helper does. */
function formatCompilationMessages(name: string, code: string, messages: readonly GPUCompilationMessage[]): string {
  const lines = code.split('\n');
  return messages
    .map((m) => `${name}.wgsl:${m.lineNum}:${m.linePos} ${m.type}: ${m.message}\n    ${lines[m.lineNum - 1] ?? ''}`)
    .join('\n');
}

/** Compiles a kernel with an explicit bind group layout built from its binding table. */
export async function createKernel(
  device: GPUDevice,
  name: string,
  code: string,
  bindings: BindingDecl[],
  constants: Record<string, number>,
): Promise<Kernel> {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: name, code });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length > 0) {
    await device.popErrorScope();
    throw new GPT2TapsError(`shader ${name} failed to compile:\n${formatCompilationMessages(name, code, errors)}`);
  }
  const layout = device.createBindGroupLayout({
    label: name,
    entries: bindings.map((b) => ({
      binding: b.binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: b.access === 'uniform' ? 'uniform' : b.access === 'read' ? 'read-only-storage' : 'storage' },
    })),
  });
  // Synchronous creation: Dawn for Node (webgpu 0.6) never settles createComputePipelineAsync's promise.
  const pipeline = device.createComputePipeline({
    label: name,
    layout: device.createPipelineLayout({ label: name, bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: 'main', constants },
  });
  const err = await device.popErrorScope();
  if (err) throw new GPT2TapsError(`pipeline ${name} could not be created: ${err.message}`);
  return { name, pipeline, layout, bindings };
}

/** Binds buffers by binding name, checking every declared binding is given. */
export function bindGroup(device: GPUDevice, kernel: Kernel, buffers: Record<string, GPUBuffer>, label = kernel.name): GPUBindGroup {
  return device.createBindGroup({
    label,
    layout: kernel.layout,
    entries: kernel.bindings.map((b) => {
      const buffer = buffers[b.name];
      if (!buffer) throw new GPT2TapsError(`internal: kernel ${kernel.name} binding "${b.name}" not given`);
      return { binding: b.binding, resource: { buffer } };
    }),
  });
}

/** One labelled compute pass holding one dispatch (so taps and timestamps can sit between any two). */
export function encodeDispatch(
  encoder: GPUCommandEncoder,
  kernel: Kernel,
  group: GPUBindGroup,
  grid: [number, number, number],
  label: string,
  timestampWrites?: GPUComputePassTimestampWrites,
): void {
  const pass = encoder.beginComputePass(timestampWrites ? { label, timestampWrites } : { label });
  pass.setPipeline(kernel.pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
  pass.end();
}
