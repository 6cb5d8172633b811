/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4),
 * for tests: it throws on anything a Prometheus server would refuse or that
 * the format does not allow — bad names, bad label syntax or escapes, values
 * that are not numbers, a sample before its family's TYPE, a family declared
 * twice, a duplicate series, a counter family whose samples do not end in
 * `_total`, histogram samples other than _bucket/_sum/_count, a histogram
 * without its +Inf bucket.
 */
export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help?: string;
  type: MetricType;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePrometheusText(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('exposition does not end with a newline');
  const families = new Map<string, Family>();
  const helpSeen = new Set<string>();
  const typeDeclared = new Set<string>();
  const series = new Set<string>();
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1} (${JSON.stringify(line.slice(0, 80))})`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) {
        if (/^# (HELP|TYPE)\b/.test(line)) throw new Error(`${where}: malformed ${line.slice(2, 6)} line`);
        return; // a plain comment
      }
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name`);
      if (kind === 'HELP') {
        if (helpSeen.has(name)) throw new Error(`${where}: second HELP for ${name}`);
        helpSeen.add(name);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`${where}: bad escape in HELP`);
        const f = families.get(name);
        if (f) f.help = rest;
        else families.set(name, { name, help: rest, type: 'untyped', samples: [] });
        return;
      }
      if (!TYPES.has(rest)) throw new Error(`${where}: unknown type ${rest}`);
      const f = families.get(name);
      if (f && (f.samples.length > 0 || f.type !== 'untyped' || typeDeclared.has(name))) throw new Error(`${where}: TYPE for ${name} after its samples or twice`);
      typeDeclared.add(name);
      if (f) f.type = rest as MetricType;
      else families.set(name, { name, type: rest as MetricType, samples: [] });
      return;
    }
    const sample = parseSample(line, where);
    const family = familyOf(sample.name, families);
    if (!family || !typeDeclared.has(family.name)) throw new Error(`${where}: sample of ${sample.name} without a TYPE line before it`);
    checkSuffix(family, sample, where);
    const key = `${sample.name}{${Object.entries(sample.labels).sort().map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
    if (series.has(key)) throw new Error(`${where}: duplicate series ${key}`);
    series.add(key);
    family.samples.push(sample);
  });
  for (const f of families.values()) {
    if (f.type === 'histogram' && f.samples.length > 0 && !f.samples.some((s) => s.name.endsWith('_bucket') && s.labels.le === '+Inf')) {
      throw new Error(`histogram ${f.name} has no +Inf bucket`);
    }
  }
  return families;
}

function familyOf(sampleName: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(sampleName);
  if (direct) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sampleName.endsWith(suffix)) continue;
    const f = families.get(sampleName.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || f.type === 'summary')) return f;
  }
  return undefined;
}

function checkSuffix(family: Family, sample: Sample, where: string): void {
  if (family.type === 'counter' && !sample.name.endsWith('_total')) throw new Error(`${where}: counter ${sample.name} does not end in _total`);
  if (family.type === 'histogram') {
    const ok = [`${family.name}_bucket`, `${family.name}_sum`, `${family.name}_count`].includes(sample.name);
    if (!ok) throw new Error(`${where}: ${sample.name} is not a histogram sample of ${family.name}`);
    if (sample.name.endsWith('_bucket') && sample.labels.le === undefined) throw new Error(`${where}: bucket without le`);
  }
  if (family.type === 'summary') {
    const ok = sample.name === family.name ? sample.labels.quantile !== undefined : [`${family.name}_sum`, `${family.name}_count`].includes(sample.name);
    if (!ok) throw new Error(`${where}: ${sample.name} is not a summary sample of ${family.name}`);
  }
}

function parseSample(line: string, where: string): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)( -?\d+)?$/.exec(line);
  if (!m) throw new Error(`${where}: not a sample line`);
  const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
  return { name, labels: labelText ? parseLabels(labelText, where) : {}, value: parseValue(valueText, where) };
}

/** As Prometheus reads values (Go's ParseFloat): NaN and Inf in any case. */
function parseValue(text: string, where: string): number {
  const special = text.toLowerCase();
  if (special === '+inf' || special === 'inf') return Infinity;
  if (special === '-inf') return -Infinity;
  if (special === 'nan') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: value ${text} is not a number`);
  return Number(text);
}

function parseLabels(text: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 1; // after '{'
  const end = text.length - 1; // the '}'
  while (i < end) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: label without =`);
    const name = text.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`${where}: bad label name ${JSON.stringify(name)}`);
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    if (text[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`);
    let j = eq + 2;
    let value = '';
    for (;;) {
      if (j >= end) throw new Error(`${where}: unterminated label value`);
      const c = text[j]!;
      if (c === '"') break;
      if (c === '\\') {
        const next = text[j + 1];
        if (next === '\\') value += '\\';
        else if (next === '"') value += '"';
        else if (next === 'n') value += '\n';
        else throw new Error(`${where}: bad escape \\${next ?? ''} in label value`);
        j += 2;
        continue;
      }
      if (c === '\n') throw new Error(`${where}: raw newline in label value`);
      value += c;
      j += 1;
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') i += 1;
    else if (i !== end) throw new Error(`${where}: expected , or } after label ${name}`);
  }
  return labels;
}
