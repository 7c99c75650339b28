// gpt2-taps: GPT-2 on hand-written WGSL kernels with tap buffers. The library entry,
// the same in a browser and in Node (pass any GPUDevice).
export { GPT2, type LoadOptions, type RunOptions, type Step } from './engine/model.js';
export { TapResult, type Tensor } from './engine/taps.js';
export { GPT2TapsError } from './errors.js';
export { allTapNames, resolveTaps, tapShape, KNOWN_MODELS, type GPT2Config } from './engine/config.js';
export { requestDevice, browserDevice } from './engine/device.js';
export { encode, encodeAsync, decode, tokenStrings, ENDOFTEXT_ID } from './tokenizer.js';
export { compareTensor, matchTensor, DEFAULT_ATOL, DEFAULT_RTOL, type Comparison } from './analysis/compare.js';
export { residualStats, RESIDUAL_TAPS, type LayerResiduals } from './analysis/residuals.js';
export { readHeader, readTensorF32, readTensorI32, readAllTensors, writeSafetensors, bytesSource } from './checkpoint/safetensors.js';
export { tapsToSafetensors } from './analysis/tap-file.js';
export { profileForward, formatProfile, formatPeak, kernelGroup, FORMULAS, type ProfileOptions, type ProfileReport, type KernelRow, type ForwardTiming } from './profile/profile.js';
export { measurePeak, measureMatmul, describeDevice, PassTimer, RoundingDetector, type PeakOptions, type PeakResult, type MatmulOptions, type MatmulTiming } from './profile/peak.js';
