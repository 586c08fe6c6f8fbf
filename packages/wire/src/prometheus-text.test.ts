import { describe, expect, it } from 'vitest';
import { createPrometheusText } from './prometheus-text';

describe('Prometheus text', () => {
  it('writes HELP and TYPE before samples, escapes label values and help, ends with a newline', () => {
    const out = createPrometheusText();
    out.family('x_total', 'counter', 'Things\\counted\nhere.');
    out.sample('x_total', 3);
    out.sample('x_total', 4, { reason: 'a"b\\c\nd', code: 7 });
    expect(out.text()).toBe(
      [
        '# HELP x_total Things\\\\counted\\nhere.',
        '# TYPE x_total counter',
        'x_total 3',
        'x_total{reason="a\\"b\\\\c\\nd",code="7"} 4',
        '',
      ].join('\n'),
    );
  });
});
