import { showTooltip } from './chart.js';

/** A path over the level sets; the segments into `jumps` (indices of points) are teleports, drawn dashed. */
export interface Path {
  label: string;
  color: string;
  points: Array<[number, number]>;
  /** Line width (default 1.8). */
  width?: number;
  jumps: number[];
  /** Hover text of each jump, aligned with `jumps`. */
  jumpInfo?: string[];
}

export interface LevelSetSpec {
  lossAt: (p: number[]) => number;
  xRange: [number, number];
  yRange: [number, number];
  minimum: number[];
  title: string;
}

const PAD = { left: 40, right: 10, top: 26, bottom: 26 };

/** Light colors for log-loss bands, low (dark teal) to high (pale yellow). */
function bandColor(t: number): [number, number, number] {
  const stops: Array<[number, number, number]> = [
    [42, 120, 142],
    [94, 170, 150],
    [170, 210, 150],
    [240, 240, 190],
  ];
  const u = Math.min(0.9999, Math.max(0, t)) * (stops.length - 1);
  const i = Math.floor(u);
  const f = u - i;
  return stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f)) as [number, number, number];
}

/** A 2-D function's level sets (bands of log₁₀ L, half a decade each) with trajectories drawn over them. */
export class LevelSetPlot {
  private spec: LevelSetSpec | null = null;
  /** The banded level sets, rendered once per function and size (drawImage of it is cheap, putImageData is not). */
  private background: HTMLCanvasElement | null = null;
  private paths: Path[] = [];
  private readonly ctx: CanvasRenderingContext2D;
  private hover: { path: number; jump: number } | null = null;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly tooltip: HTMLElement,
  ) {
    this.ctx = canvas.getContext('2d')!;
    canvas.addEventListener('mousemove', e => this.onMove(e));
    canvas.addEventListener('mouseleave', () => this.setHover(null, 0, 0));
  }

  setFunction(spec: LevelSetSpec | null): void {
    this.spec = spec;
    this.background = null;
    this.paths = [];
    this.draw();
  }

  setPaths(paths: Path[]): void {
    this.paths = paths;
    this.draw();
  }

  private get size(): [number, number] {
    return [this.canvas.clientWidth || this.canvas.width, this.canvas.clientHeight || this.canvas.height];
  }

  private toPx([x, y]: [number, number]): [number, number] {
    const [w, h] = this.size;
    const { xRange, yRange } = this.spec!;
    return [
      PAD.left + ((x - xRange[0]) / (xRange[1] - xRange[0])) * (w - PAD.left - PAD.right),
      PAD.top + (1 - (y - yRange[0]) / (yRange[1] - yRange[0])) * (h - PAD.top - PAD.bottom),
    ];
  }

  /** The banded log-loss image of the plot area, with a dark line where the band changes. */
  private makeBackground(pw: number, ph: number): ImageData {
    const { lossAt, xRange, yRange } = this.spec!;
    const logs = new Float64Array(pw * ph);
    for (let j = 0; j < ph; j++) {
      for (let i = 0; i < pw; i++) {
        const x = xRange[0] + ((i + 0.5) / pw) * (xRange[1] - xRange[0]);
        const y = yRange[1] - ((j + 0.5) / ph) * (yRange[1] - yRange[0]);
        logs[j * pw + i] = Math.log10(Math.max(lossAt([x, y]), 1e-12));
      }
    }
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of logs) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    lo = Math.max(lo, hi - 8);
    const band = (v: number) => Math.floor(Math.max(v, lo) * 2);
    const img = this.ctx.createImageData(pw, ph);
    for (let j = 0; j < ph; j++) {
      for (let i = 0; i < pw; i++) {
        const k = j * pw + i;
        const b = band(logs[k]);
        const edge = (i + 1 < pw && band(logs[k + 1]) !== b) || (j + 1 < ph && band(logs[k + pw]) !== b);
        const [r, g, bl] = edge ? [60, 70, 80] : bandColor((b / 2 - lo) / (hi - lo || 1));
        img.data.set([r, g, bl, edge ? 140 : 255], k * 4);
      }
    }
    return img;
  }

  draw(): void {
    const dpr = window.devicePixelRatio || 1;
    const [w, h] = this.size;
    if (this.canvas.width !== Math.round(w * dpr)) this.canvas.width = Math.round(w * dpr);
    if (this.canvas.height !== Math.round(h * dpr)) this.canvas.height = Math.round(h * dpr);
    const c = this.ctx;
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.fillStyle = '#fff';
    c.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (this.spec == null) {
      c.setTransform(dpr, 0, 0, dpr, 0, 0);
      c.fillStyle = '#666';
      c.font = '13px system-ui, sans-serif';
      c.fillText('Trajectories are drawn for the 2-D functions.', PAD.left, h / 2);
      return;
    }
    const [pw, ph] = [Math.round((w - PAD.left - PAD.right) * dpr), Math.round((h - PAD.top - PAD.bottom) * dpr)];
    if (this.background == null || this.background.width !== pw || this.background.height !== ph) {
      this.background = Object.assign(document.createElement('canvas'), { width: pw, height: ph });
      this.background.getContext('2d')!.putImageData(this.makeBackground(pw, ph), 0, 0);
    }
    c.drawImage(this.background, Math.round(PAD.left * dpr), Math.round(PAD.top * dpr));
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.drawFrame(c, w, h);
    this.paths.forEach((p, k) => this.drawPath(c, p, k));
    const [mx, my] = this.toPx(this.spec.minimum as [number, number]);
    c.fillStyle = '#111';
    c.font = '16px system-ui, sans-serif';
    c.fillText('★', mx - 6, my + 6);
  }

  private drawFrame(c: CanvasRenderingContext2D, w: number, h: number): void {
    const { xRange, yRange, title } = this.spec!;
    c.fillStyle = '#222';
    c.font = '600 13px system-ui, sans-serif';
    c.fillText(title, PAD.left, 17);
    c.font = '11px system-ui, sans-serif';
    c.strokeStyle = '#888';
    c.strokeRect(PAD.left, PAD.top, w - PAD.left - PAD.right, h - PAD.top - PAD.bottom);
    c.fillText(`x₁ ∈ [${xRange.join(', ')}]`, PAD.left, h - 8);
    c.save();
    c.translate(14, h - PAD.bottom);
    c.rotate(-Math.PI / 2);
    c.fillText(`x₂ ∈ [${yRange.join(', ')}]`, 0, 0);
    c.restore();
  }

  private drawPath(c: CanvasRenderingContext2D, p: Path, k: number): void {
    if (p.points.length === 0) return;
    // Two strokes per path (steps solid, jumps dashed), whatever its length: drawing stays cheap as runs grow.
    const jumps = new Set(p.jumps);
    c.lineWidth = p.width ?? 1.8;
    c.strokeStyle = p.color;
    for (const dashed of [false, true]) {
      c.setLineDash(dashed ? [5, 4] : []);
      c.beginPath();
      for (let i = 1; i < p.points.length; i++) {
        if (jumps.has(i) !== dashed) continue;
        c.moveTo(...this.toPx(p.points[i - 1]));
        c.lineTo(...this.toPx(p.points[i]));
      }
      c.stroke();
    }
    c.setLineDash([]);
    const [sx, sy] = this.toPx(p.points[0]);
    c.fillStyle = p.color;
    c.beginPath();
    c.arc(sx, sy, 4, 0, 2 * Math.PI);
    c.fill();
    p.jumps.forEach((i, j) => {
      const [x, y] = this.toPx(p.points[i]);
      const hovered = this.hover?.path === k && this.hover.jump === j;
      c.beginPath();
      c.arc(x, y, hovered ? 7 : 5, 0, 2 * Math.PI);
      c.fillStyle = '#fff';
      c.fill();
      c.lineWidth = 2;
      c.stroke();
    });
    // Legend, one line per path.
    c.font = '11px system-ui, sans-serif';
    const [w] = this.size;
    c.fillStyle = p.color;
    c.fillRect(w - PAD.right - 150, PAD.top + 8 + k * 16, 14, 3);
    c.fillStyle = '#222';
    c.fillText(p.label, w - PAD.right - 132, PAD.top + 13 + k * 16);
  }

  private onMove(e: MouseEvent): void {
    if (this.spec == null) return;
    const rect = this.canvas.getBoundingClientRect();
    const [mx, my] = [e.clientX - rect.left, e.clientY - rect.top];
    let best: { path: number; jump: number } | null = null;
    let bestD = 10;
    this.paths.forEach((p, k) =>
      p.jumps.forEach((i, j) => {
        const [x, y] = this.toPx(p.points[i]);
        const d = Math.hypot(x - mx, y - my);
        if (d < bestD) [best, bestD] = [{ path: k, jump: j }, d];
      }),
    );
    this.setHover(best, e.clientX, e.clientY);
  }

  private setHover(h: { path: number; jump: number } | null, clientX: number, clientY: number): void {
    const changed = h?.path !== this.hover?.path || h?.jump !== this.hover?.jump;
    this.hover = h;
    if (changed) this.draw();
    showTooltip(this.tooltip, h ? (this.paths[h.path].jumpInfo?.[h.jump] ?? null) : null, clientX, clientY);
  }
}
