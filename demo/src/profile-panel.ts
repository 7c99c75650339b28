// The profile panel: per-kernel GPU time of one forward pass (src/profile/profile.ts) as a bar
// chart of shares, each kernel's fraction of the measured device peak, the whole pass
// with and without taps, and whether the GPU timestamps were rounded. Text only via
// textContent.
import type { ProfileReport } from '../../src/index.js';

const pct = (x: number | null, digits = 1) => (x === null ? 'n/a' : `${(x * 100).toFixed(digits)}%`);

function line(parent: HTMLElement, text: string, cls?: string): HTMLElement {
  const p = document.createElement('p');
  p.textContent = text;
  if (cls) p.className = cls;
  parent.append(p);
  return p;
}

export function renderProfile(body: HTMLElement, r: ProfileReport): void {
  body.replaceChildren();
  const timestamps = r.timestamps === 'gpu'
    ? `GPU timestamps (timestamp-query), ${r.rounded ? `rounded (step ${((r.quantumNs ?? 0) / 1000).toFixed(1)} µs): start Chrome with --enable-dawn-features=allow_unsafe_apis for exact ones` : 'not rounded'}`
    : 'no timestamp-query on this device: the whole forward pass timed by the wall clock only';
  line(body, `${r.device} · T = ${r.tokens} tokens · ${r.dispatches} dispatches · mean of ${r.runs} runs after ${r.warmup} warm-up · ${timestamps}`, 'profile-meta');

  const chart = document.createElement('div');
  chart.className = 'profile-chart';
  chart.setAttribute('role', 'list');
  for (const row of r.rows) {
    const item = document.createElement('div');
    item.className = 'profile-row';
    item.setAttribute('role', 'listitem');
    const name = document.createElement('span');
    name.className = 'profile-name';
    name.textContent = `${row.kernel} ×${row.calls}`;
    const track = document.createElement('span');
    track.className = 'profile-track';
    const bar = document.createElement('span');
    bar.className = 'profile-bar';
    bar.style.width = `${Math.max(0, Math.min(1, row.share ?? 0)) * 100}%`;
    track.append(bar);
    const figures = document.createElement('span');
    figures.className = 'profile-figures';
    figures.textContent = `${pct(row.share)} · ${row.meanUs === null ? 'n/a' : row.meanUs.toFixed(1)} µs/call · ` +
      `${row.gflops === null ? 'n/a' : row.gflops.toFixed(2)} GFLOP/s (${pct(row.fmaFraction, 2)} of FMA peak) · ` +
      `${row.gbps === null ? 'n/a' : row.gbps.toFixed(2)} GB/s (${pct(row.bandwidthFraction, 2)} of bandwidth) · ${row.bound}-bound · ${row.variant}`;
    item.dataset.kernel = row.kernel;
    item.dataset.variant = row.variant;
    item.dataset.share = String(row.share ?? '');
    item.append(name, track, figures);
    chart.append(item);
  }
  body.append(chart);

  if (r.forward) {
    const f = r.forward;
    const ms = (t: { wallMs: number; gpuMs: number | null }) => `${(t.gpuMs ?? t.wallMs).toFixed(2)} ms ${t.gpuMs === null ? '(wall clock)' : '(GPU)'}`;
    line(body, `whole forward pass: no taps ${ms(f.noTaps)}, all ${f.allTaps.taps} taps ${ms(f.allTaps)} (${f.tapsOverhead >= 0 ? '+' : ''}${pct(f.tapsOverhead)})`);
  }
  if (r.peak) {
    line(body, `device peak (measured here): FMA ${r.peak.fmaGflops.toFixed(1)} GFLOP/s, copy bandwidth ${r.peak.bandwidthGBps.toFixed(1)} GB/s`);
  }
  for (const n of r.notes) line(body, n, 'note');
  body.dataset.rows = String(r.rows.length);
  body.dataset.timestamps = r.timestamps;
  body.dataset.rounded = String(r.rounded);
}
