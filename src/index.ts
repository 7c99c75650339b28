// gpt2-taps: GPT-2 on hand-written WGSL kernels with tap buffers. The library entry,
// the same in a browser and in Node (pass any GPUDevice).
export { GPT2, type LoadOptions, type RunOptions, type GenerateOptions, type GenerateResult } from './engine/model.js';
export { TapResult, GpuTaps, type Tensor, type GpuTensor } from './engine/taps.js';
export { GPT2TapsError } from './errors.js';
export { KNOWN_MODELS, paramShapes, type GPT2Config } from './checkpoint/config.js';
export {
  ACTIVATIONS, activationShapes, allTapNames, forwardOps, planForward, resolveTaps, tapCatalogue, tapShape,
  DEFAULT_CHOICE, type Dispatch, type KernelChoice, type OpDecl, type PointDecl, type TapInfo,
} from './engine/forward.js';
export { chooseKernels, parseKernelChoice, describeChoice, type TuneStore } from './engine/tune.js';
export { KERNELS, type KernelDecl, type KernelName } from './engine/kernels.js';
export { requestDevice, browserDevice } from './engine/device.js';
export { encode, encodeAsync, decode, tokenStrings, ENDOFTEXT_ID } from './tokenizer.js';
export { compareTensor, matchTensor, DEFAULT_ATOL, DEFAULT_RTOL, type Comparison } from './analysis/compare.js';
export { residualStats, RESIDUAL_TAPS, type LayerResiduals } from './analysis/residuals.js';
export { readHeader, readTensorF32, readTensorI32, readAllTensors, writeSafetensors, bytesSource } from './checkpoint/safetensors.js';
export { tapsToSafetensors, tapFileSource } from './analysis/tap-file.js';
export { prepareEdits, type Edit, type EditOp, type PatchSource } from './engine/edits.js';
export { profileForward, formatProfile, formatPeak, kernelGroup, formula, type ProfileOptions, type ProfileReport, type KernelRow, type ForwardTiming } from './profile/profile.js';
export { measurePeak, measureMatmul, type PeakOptions, type PeakResult, type MatmulOptions, type MatmulTiming } from './profile/peak.js';
export { describeDevice, PassTimer, RoundingDetector } from './engine/timing.js';
