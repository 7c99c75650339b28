// Exports: the figure as a PNG (panel canvases, axes SVG and the DOM text composed onto
// one canvas), and downloads of blobs.
import type { Panel } from './figure.js';

const PAD = 12;

function loadSvg(svg: SVGSVGElement): Promise<HTMLImageElement> {
  const text = new XMLSerializer().serializeToString(svg);
  const img = new Image();
  return new Promise((resolve, reject) => {
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error('could not render the axes for the PNG'));
    img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(text)}`;
  });
}

function drawText(ctx: CanvasRenderingContext2D, el: Element, ox: number, oy: number): void {
  const text = el.textContent ?? '';
  if (!text || (el as HTMLElement).hidden) return;
  const r = el.getBoundingClientRect();
  if (r.width === 0) return;
  const cs = getComputedStyle(el);
  ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
  ctx.fillStyle = cs.color;
  ctx.textBaseline = 'top';
  ctx.fillText(text, r.left - ox, r.top - oy + 1);
}

/** The visible panels as one PNG, at the screen's pixel ratio. */
export async function figurePng(panels: Panel[]): Promise<Blob> {
  const visible = panels.filter((p) => !p.root.hidden);
  if (visible.length === 0) throw new Error('nothing to export: no panel is drawn');
  const rects = visible.map((p) => p.root.getBoundingClientRect());
  const left = Math.min(...rects.map((r) => r.left)) - PAD;
  const top = Math.min(...rects.map((r) => r.top)) - PAD;
  const width = Math.max(...rects.map((r) => r.right)) - left + PAD;
  const height = Math.max(...rects.map((r) => r.bottom)) - top + PAD;
  const scale = window.devicePixelRatio || 1;
  const canvas = document.createElement('canvas');
  canvas.width = Math.ceil(width * scale);
  canvas.height = Math.ceil(height * scale);
  const ctx = canvas.getContext('2d')!;
  ctx.scale(scale, scale);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  for (const p of visible) {
    for (const el of Array.from(p.root.querySelectorAll('.panel-name, .panel-r, .panel-note, .panel-count'))) drawText(ctx, el, left, top);
    for (const item of Array.from(p.root.querySelectorAll<HTMLElement>('.legend-item'))) {
      const sw = item.querySelector<HTMLElement>('.swatch');
      if (sw) {
        const r = sw.getBoundingClientRect();
        ctx.fillStyle = sw.style.background;
        ctx.beginPath();
        ctx.arc(r.left - left + r.width / 2, r.top - top + r.height / 2, r.width / 2, 0, 2 * Math.PI);
        ctx.fill();
      }
      const label = item.lastChild;
      if (label) {
        const range = document.createRange();
        range.selectNode(label);
        const r = range.getBoundingClientRect();
        const cs = getComputedStyle(item);
        ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
        ctx.fillStyle = cs.color;
        ctx.textBaseline = 'top';
        ctx.fillText(label.textContent ?? '', r.left - left, r.top - top + 1);
      }
    }
    const c = p.canvas.getBoundingClientRect();
    // The WebGPU layer's points (under regl-scatterplot's canvas), where it draws them.
    if (!p.layerCanvas.hidden) ctx.drawImage(p.layerCanvas, c.left - left, c.top - top, c.width, c.height);
    ctx.drawImage(p.canvas, c.left - left, c.top - top, c.width, c.height);
    const s = p.svg.getBoundingClientRect();
    ctx.drawImage(await loadSvg(p.svg), s.left - left, s.top - top, s.width, s.height);
  }
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('PNG encoding failed'))), 'image/png'));
}

export function download(data: Blob, filename: string): void {
  const url = URL.createObjectURL(data);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
