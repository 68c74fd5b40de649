/**
 * A small canvas line chart: several series, a log or linear y axis, markers with a hover text.
 * Enough for live training curves; no dependencies.
 */

export interface Series {
  label: string;
  color: string;
  /** Line width in CSS pixels (default 1.6): a wider line drawn first stays visible under one that overlaps it. */
  width?: number;
  dash?: number[];
  xs: number[];
  ys: number[];
}

/** A point of interest (a teleport) drawn as a triangle; its `info` shows on hover. */
export interface Marker {
  x: number;
  y: number;
  color: string;
  /** Filled when true (an accepted teleport), hollow otherwise. */
  filled: boolean;
  info: string;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  logY: boolean;
}

const MARGIN = { left: 58, right: 12, top: 40, bottom: 34 };

/** Round tick values for [lo, hi]: 1, 2 or 5 × 10^k steps. */
export function linearTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Ticks for a log axis spanning log₁₀ values [lo, hi]: decades, else 1-2-5 steps, else plain linear ticks. */
export function logTicks(lo: number, hi: number): number[] {
  const decades: number[] = [];
  for (let k = Math.ceil(lo); k <= Math.floor(hi); k++) decades.push(k);
  if (decades.length >= 2) {
    const every = Math.ceil(decades.length / 6);
    return decades.filter(k => k % every === 0).map(k => 10 ** k);
  }
  const oneTwoFive: number[] = [];
  for (let k = Math.floor(lo); k <= Math.ceil(hi); k++)
    for (const m of [1, 2, 5]) if (Math.log10(m * 10 ** k) >= lo && Math.log10(m * 10 ** k) <= hi) oneTwoFive.push(m * 10 ** k);
  if (oneTwoFive.length >= 2) return oneTwoFive;
  return linearTicks(10 ** lo, 10 ** hi, 4).filter(t => t > 0);
}

export function formatNumber(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(0).replace('e+', 'e') : String(Number(v.toPrecision(3)));
}

export class LineChart {
  private series: Series[] = [];
  private markers: Marker[] = [];
  private hover: Marker | null = null;
  private readonly ctx: CanvasRenderingContext2D;
  private scale = { x0: 0, x1: 1, y0: 0, y1: 1 };

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly tooltip: HTMLElement,
    private readonly options: ChartOptions,
  ) {
    this.ctx = canvas.getContext('2d')!;
    canvas.addEventListener('mousemove', e => this.onMove(e));
    canvas.addEventListener('mouseleave', () => this.setHover(null, 0, 0));
  }

  setData(series: Series[], markers: Marker[] = []): void {
    this.series = series;
    this.markers = markers;
    this.draw();
  }

  private fy(v: number): number {
    return this.options.logY ? Math.log10(v) : v;
  }

  private px(x: number): number {
    const { x0, x1 } = this.scale;
    return MARGIN.left + ((x - x0) / (x1 - x0 || 1)) * (this.width - MARGIN.left - MARGIN.right);
  }

  private py(y: number): number {
    const { y0, y1 } = this.scale;
    const h = this.height - MARGIN.top - MARGIN.bottom;
    return MARGIN.top + h - ((this.fy(y) - y0) / (y1 - y0 || 1)) * h;
  }

  private get width(): number {
    return this.canvas.clientWidth || this.canvas.width;
  }

  private get height(): number {
    return this.canvas.clientHeight || this.canvas.height;
  }

  private fitScale(): void {
    const ok = (y: number) => Number.isFinite(this.fy(y));
    const xs = this.series.flatMap(s => s.xs);
    const ys = this.series.flatMap(s => s.ys.filter(ok)).map(y => this.fy(y));
    const lo = Math.min(...ys);
    const hi = Math.max(...ys);
    const pad = ys.length && hi > lo ? (hi - lo) * 0.05 : 0.5;
    this.scale = {
      x0: xs.length ? Math.min(...xs) : 0,
      x1: xs.length ? Math.max(...xs, Math.min(...xs) + 1) : 1,
      y0: ys.length ? lo - pad : 0,
      y1: ys.length ? hi + pad : 1,
    };
  }

  draw(): void {
    const dpr = window.devicePixelRatio || 1;
    const [w, h] = [this.width, this.height];
    if (this.canvas.width !== Math.round(w * dpr)) this.canvas.width = Math.round(w * dpr);
    if (this.canvas.height !== Math.round(h * dpr)) this.canvas.height = Math.round(h * dpr);
    const c = this.ctx;
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.fillStyle = '#fff';
    c.fillRect(0, 0, w, h);
    this.fitScale();
    this.drawAxes(c, w, h);
    c.save();
    c.beginPath();
    c.rect(MARGIN.left, MARGIN.top, w - MARGIN.left - MARGIN.right, h - MARGIN.top - MARGIN.bottom);
    c.clip();
    for (const s of this.series) {
      c.strokeStyle = s.color;
      c.lineWidth = s.width ?? 1.6;
      c.setLineDash(s.dash ?? []);
      c.beginPath();
      let pen = false;
      s.xs.forEach((x, i) => {
        const y = s.ys[i];
        if (!Number.isFinite(this.fy(y))) {
          pen = false;
          return;
        }
        if (pen) c.lineTo(this.px(x), this.py(y));
        else c.moveTo(this.px(x), this.py(y));
        pen = true;
      });
      c.stroke();
    }
    c.setLineDash([]);
    for (const m of this.markers) this.drawMarker(c, m, m === this.hover);
    c.restore();
    this.drawLegend(c, w);
  }

  private drawAxes(c: CanvasRenderingContext2D, w: number, h: number): void {
    c.fillStyle = '#222';
    c.font = '600 13px system-ui, sans-serif';
    c.fillText(this.options.title, MARGIN.left, 16);
    c.font = '11px system-ui, sans-serif';
    c.strokeStyle = '#ddd';
    c.lineWidth = 1;
    const { x0, x1, y0, y1 } = this.scale;
    c.textAlign = 'center';
    for (const t of linearTicks(x0, x1)) {
      const x = this.px(t);
      c.beginPath();
      c.moveTo(x, MARGIN.top);
      c.lineTo(x, h - MARGIN.bottom);
      c.stroke();
      c.fillText(formatNumber(t), x, h - MARGIN.bottom + 14);
    }
    c.fillText(this.options.xLabel, (MARGIN.left + w - MARGIN.right) / 2, h - 4);
    c.textAlign = 'right';
    const yTicks = this.options.logY ? logTicks(y0, y1) : linearTicks(y0, y1);
    for (const t of yTicks) {
      const y = this.py(t);
      c.beginPath();
      c.moveTo(MARGIN.left, y);
      c.lineTo(w - MARGIN.right, y);
      c.stroke();
      c.fillText(formatNumber(t), MARGIN.left - 5, y + 4);
    }
    c.textAlign = 'left';
    c.strokeStyle = '#888';
    c.strokeRect(MARGIN.left, MARGIN.top, w - MARGIN.left - MARGIN.right, h - MARGIN.top - MARGIN.bottom);
  }

  private drawLegend(c: CanvasRenderingContext2D, w: number): void {
    c.font = '11px system-ui, sans-serif';
    let x = w - MARGIN.right;
    for (const s of [...this.series].reverse()) {
      const tw = c.measureText(s.label).width;
      x -= tw + 30;
      c.strokeStyle = s.color;
      c.lineWidth = 2;
      c.setLineDash(s.dash ?? []);
      c.beginPath();
      c.moveTo(x, 29);
      c.lineTo(x + 20, 29);
      c.stroke();
      c.setLineDash([]);
      c.fillStyle = '#333';
      c.fillText(s.label, x + 24, 33);
    }
  }

  private drawMarker(c: CanvasRenderingContext2D, m: Marker, hovered: boolean): void {
    if (!Number.isFinite(this.fy(m.y))) return;
    const [x, y] = [this.px(m.x), this.py(m.y)];
    const r = hovered ? 7 : 5;
    c.beginPath();
    c.moveTo(x - r, y - r - 6);
    c.lineTo(x + r, y - r - 6);
    c.lineTo(x, y - 4);
    c.closePath();
    c.lineWidth = 1.5;
    c.strokeStyle = m.color;
    c.fillStyle = m.filled ? m.color : '#fff';
    c.fill();
    c.stroke();
  }

  /** Where each marker is drawn (the centre of its triangle, in CSS pixels of the canvas), with its hover text. */
  markerPositions(): Array<{ x: number; y: number; info: string }> {
    return this.markers.filter(m => Number.isFinite(this.fy(m.y))).map(m => ({ x: this.px(m.x), y: this.py(m.y) - 9, info: m.info }));
  }

  /** The marker under the mouse (within 10 px of its tip), if any. */
  private onMove(e: MouseEvent): void {
    const rect = this.canvas.getBoundingClientRect();
    const [mx, my] = [e.clientX - rect.left, e.clientY - rect.top];
    let best: Marker | null = null;
    let bestD = 12;
    for (const m of this.markers) {
      if (!Number.isFinite(this.fy(m.y))) continue;
      const d = Math.hypot(this.px(m.x) - mx, this.py(m.y) - 9 - my);
      if (d < bestD) [best, bestD] = [m, d];
    }
    this.setHover(best, e.clientX, e.clientY);
  }

  private setHover(m: Marker | null, clientX: number, clientY: number): void {
    if (m !== this.hover) {
      this.hover = m;
      this.draw();
    }
    showTooltip(this.tooltip, m?.info ?? null, clientX, clientY);
  }
}

/** Shows `text` in the shared tooltip near the mouse, or hides it. */
export function showTooltip(tooltip: HTMLElement, text: string | null, clientX: number, clientY: number): void {
  if (text == null) {
    tooltip.hidden = true;
    return;
  }
  tooltip.textContent = text;
  tooltip.hidden = false;
  tooltip.style.left = `${clientX + window.scrollX + 14}px`;
  tooltip.style.top = `${clientY + window.scrollY + 14}px`;
}
