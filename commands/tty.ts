/**
 * Output for people on a terminal: colour, aligned tables and progress lines, each only when the stream is a TTY
 * and colour is not turned off (NO_COLOR, --no-color: cli.ts sets NO_COLOR for the latter). Piped output stays
 * byte for byte what it would be without this module, so scripts that parse Kafka's shapes keep working.
 *
 * No dependency: SGR escape codes and a column layout are a few lines, and the CLI's start-up time counts
 * (docs/benchmarks.md); this module is loaded only by the commands that print for people.
 */

/** Whether to colour what goes to `stream`. */
export function colorEnabled(stream: NodeJS.WriteStream = process.stdout): boolean {
  const noColor = process.env.NO_COLOR;
  if (noColor !== undefined && noColor !== '') return false;
  if (process.env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

export interface Palette {
  readonly enabled: boolean;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  bold(s: string): string;
  dim(s: string): string;
}

const sgr = (open: number, close: number) => (s: string) => `\u001b[${open}m${s}\u001b[${close}m`;
const identity = (s: string): string => s;

export function palette(stream: NodeJS.WriteStream = process.stdout): Palette {
  if (!colorEnabled(stream)) return { enabled: false, red: identity, green: identity, yellow: identity, cyan: identity, bold: identity, dim: identity };
  return { enabled: true, red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39), bold: sgr(1, 22), dim: sgr(2, 22) };
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

/** Display width of a string (escape codes take no room). */
export function visibleLength(s: string): number {
  return s.replace(ANSI, '').length;
}

/**
 * Columns padded to the widest cell, two spaces apart, a header row in bold on a TTY. Cells may carry colour;
 * the last column is not padded (no trailing spaces).
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[], p: Palette = palette()): string {
  const widths = headers.map((h, i) => Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ''))));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - visibleLength(c))))
      .join('  ')
      .trimEnd();
  return [p.bold(line(headers)), ...rows.map(line)].map((l) => `${l}\n`).join('');
}

/**
 * A progress line on stderr, redrawn in place, only on a TTY: `update` at most every 100 ms, `done` clears it.
 * Off a TTY every call does nothing, so a command prints exactly what it would without it.
 */
export class Progress {
  private last = 0;
  private shown = false;
  readonly enabled: boolean;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.enabled = stream.isTTY === true && process.env.TERM !== 'dumb';
  }

  update(text: string, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const width = (this.stream.columns ?? 80) - 1;
    this.stream.write(`\r\u001b[2K${text.length > width ? text.slice(0, width) : text}`);
    this.shown = true;
  }

  done(): void {
    if (this.shown) this.stream.write('\r\u001b[2K');
    this.shown = false;
  }
}

/** `[#####.....] 50% label` for a fraction in [0, 1]. */
export function bar(fraction: number, width = 20): string {
  const f = Math.max(0, Math.min(1, fraction));
  const filled = Math.round(f * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(f * 100)).padStart(3)}%`;
}
