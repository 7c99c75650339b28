// A small stderr progress reporter for long work (downloads, loading weights).
// On a TTY: one line, redrawn at most ~10 times a second:
//   model.safetensors [############..................] 41% 224.1/548.1 MB 5.1 MB/s
// Elsewhere (CI logs, pipes): a plain line at most every 10% (every 5 s when the total is
// unknown), so logs stay short.

export interface ProgressBar {
  /** Reports `done` units (bytes) so far, of `total` when known. */
  update(done: number, total?: number): void;
  /** Ends the line: `message`, or a summary (amount, time, rate). Further calls do nothing. */
  done(message?: string): void;
}

export interface ProgressBarOptions {
  /** Where to write; process.stderr by default. Its `isTTY` picks the redrawn or the plain form. */
  stream?: NodeJS.WritableStream;
}

const BAR_WIDTH = 30;
const TTY_INTERVAL_MS = 100;
const PLAIN_INTERVAL_MS = 5000;
const RATE_WINDOW_MS = 5000;

const UNITS = [
  { name: 'GB', size: 1e9 },
  { name: 'MB', size: 1e6 },
  { name: 'kB', size: 1e3 },
] as const;

function unitFor(n: number): { name: string; size: number } {
  return UNITS.find((u) => n >= u.size) ?? { name: 'B', size: 1 };
}

function fmt(n: number, u: { name: string; size: number }): string {
  return u.size === 1 ? String(Math.round(n)) : (n / u.size).toFixed(1);
}

/** A byte count with a decimal unit: `512 B`, `12.3 MB`. */
export function formatBytes(n: number): string {
  const u = unitFor(n);
  return `${fmt(n, u)} ${u.name}`;
}

function formatSeconds(s: number): string {
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export function progressBar(label: string, opts: ProgressBarOptions = {}): ProgressBar {
  const stream = opts.stream ?? process.stderr;
  const tty = (stream as { isTTY?: boolean }).isTTY === true;
  const start = Date.now();
  let first: { t: number; done: number } | undefined;
  let samples: { t: number; done: number }[] = [];
  let cur = 0;
  let tot: number | undefined;
  let lastDraw = -Infinity;
  let lastDecile = 0;
  let drawn = false;
  let finished = false;

  function rate(now: number): number | undefined {
    const oldest = samples[0];
    if (!oldest || now - oldest.t < 200) return undefined;
    return (cur - oldest.done) / ((now - oldest.t) / 1000);
  }

  function amounts(): string {
    if (tot === undefined) return formatBytes(cur);
    const u = unitFor(tot);
    return `${fmt(cur, u)}/${fmt(tot, u)} ${u.name}`;
  }

  function line(now: number, withBar: boolean): string {
    const parts = [label];
    if (tot !== undefined && tot > 0) {
      const frac = Math.min(1, Math.max(0, cur / tot));
      if (withBar) {
        const filled = Math.round(frac * BAR_WIDTH);
        parts.push(`[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`);
      }
      parts.push(`${Math.floor(frac * 100)}%`);
    }
    parts.push(amounts());
    const r = rate(now);
    if (r !== undefined) parts.push(`${formatBytes(r)}/s`);
    return parts.join(' ');
  }

  function drawTTY(now: number): void {
    let text = line(now, true);
    const cols = (stream as { columns?: number }).columns;
    if (cols && text.length > cols - 1) text = text.slice(0, Math.max(0, cols - 1));
    stream.write(`\r${text}\x1b[K`);
    drawn = true;
    lastDraw = now;
  }

  return {
    update(done: number, total?: number): void {
      if (finished) return;
      const now = Date.now();
      cur = done;
      if (total !== undefined && Number.isFinite(total)) tot = total;
      if (!first) first = { t: now, done };
      samples.push({ t: now, done });
      while (samples.length > 2 && now - samples[1].t >= RATE_WINDOW_MS) samples.shift();
      if (samples.length > 1000) samples = samples.filter((_, i) => i % 2 === 0);

      const complete = tot !== undefined && cur >= tot;
      if (tty) {
        if (now - lastDraw >= TTY_INTERVAL_MS || complete) drawTTY(now);
        return;
      }
      if (tot !== undefined && tot > 0) {
        const decile = Math.min(10, Math.floor((cur / tot) * 10));
        if (decile > lastDecile) {
          lastDecile = decile;
          if (decile < 10) stream.write(line(now, false) + '\n'); // 100% is said by done()
        }
      } else if (now - (Number.isFinite(lastDraw) ? lastDraw : start) >= PLAIN_INTERVAL_MS) {
        stream.write(line(now, false) + '\n');
        lastDraw = now;
      }
    },

    done(message?: string): void {
      if (finished) return;
      finished = true;
      let text = message;
      if (text === undefined) {
        const secs = (Date.now() - (first?.t ?? start)) / 1000;
        const moved = cur - (first?.done ?? 0);
        text = formatBytes(cur);
        if (secs >= 0.05 && moved > 0) text += ` in ${formatSeconds(secs)} (${formatBytes(moved / secs)}/s)`;
      }
      stream.write(`${tty && drawn ? '\r' : ''}${label} ${text}${tty && drawn ? '\x1b[K' : ''}\n`);
    },
  };
}
