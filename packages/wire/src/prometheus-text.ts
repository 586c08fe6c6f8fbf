/**
 * The Prometheus text exposition format (version 0.0.4) as the engine and agent write it by hand
 * (no registry, no dependency): `# HELP` and `# TYPE` before a family's samples, label values
 * escaped (backslash, newline, double quote), one sample a line, a final newline.
 *
 * ```
 * # HELP capsule_engine_drops_total Dropped packets by reason.
 * # TYPE capsule_engine_drops_total counter
 * capsule_engine_drops_total{reason="UNKNOWN_FLOW"} 3
 * ```
 */

/** The content type of the format. */
export const PROMETHEUS_TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Builds one exposition. */
export interface PrometheusText {
  /** Starts a family (its samples follow). HELP text: backslash and newline are escaped. */
  family(name: string, type: 'counter' | 'gauge', help: string): void;
  sample(name: string, value: number, labels?: Readonly<Record<string, string | number>>): void;
  /** The exposition so far. */
  text(): string;
}

const escapeLabel = (value: string) =>
  value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

export function createPrometheusText(): PrometheusText {
  const lines: string[] = [];
  return {
    family(name, type, help) {
      lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    },
    sample(name, value, labels = {}) {
      const entries = Object.entries(labels);
      const text =
        entries.length === 0
          ? ''
          : `{${entries.map(([k, v]) => `${k}="${escapeLabel(String(v))}"`).join(',')}}`;
      lines.push(`${name}${text} ${value}`);
    },
    text: () => `${lines.join('\n')}\n`,
  };
}
