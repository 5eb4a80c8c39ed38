/**
 * Reads a broker's /metrics with a Prometheus text-format parser (parse-prometheus-text-format, prom2json's
 * shape), so a test checks what Prometheus would read, not strings.
 */
import parsePrometheusTextFormat, { type PromFamily } from 'parse-prometheus-text-format';

export interface Scrape {
  readonly families: ReadonlyMap<string, PromFamily>;
  /** The value of the sample of `name` whose labels are exactly `labels` (none: the unlabelled sample); undefined when absent. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Every sample of `name` with its labels. */
  samples(name: string): { labels: Record<string, string>; value: number }[];
  /**
   * One line of the exposition by its full sample name (`x_count`, `x_bucket`) and labels. The parser merges the
   * series of a histogram with labels into one, so histogram series are read from their lines.
   */
  line(sampleName: string, labels: Record<string, string>): number | undefined;
}

export async function scrapeMetrics(url: string): Promise<Scrape> {
  const res = await fetch(url);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${text}`);
  const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  const samples = (name: string) =>
    (families.get(name)?.metrics ?? []).map((m) => ({ labels: m.labels ?? {}, value: Number(m.value ?? m.count) }));
  return {
    families,
    samples,
    line(sampleName, labels) {
      for (const l of text.split('\n')) {
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(l);
        if (!m || m[1] !== sampleName) continue;
        const got = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
        const want = Object.entries(labels);
        if (Object.keys(got).length === want.length && want.every(([k, v]) => got[k] === v)) return Number(m[3]);
      }
      return undefined;
    },
    value(name, labels = {}) {
      const want = Object.entries(labels);
      const hit = samples(name).find((s) => Object.keys(s.labels).length === want.length && want.every(([k, v]) => s.labels[k] === v));
      return hit?.value;
    },
  };
}
