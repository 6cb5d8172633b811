/**
 * The shapes of the agent's state files, checked on every read. A file that
 * parses as JSON but does not hold what the agent wrote (hand-edited, from
 * another version, damaged in a way JSON survives) is refused by name with
 * what is wrong, instead of crashing the agent later or, worse, being taken
 * at face value (`formed.json` holding `42` would count as formed). Only the
 * fields the agent relies on are checked; unknown fields are allowed, so a
 * newer agent's extra fields do not lock out a rollback. Pure.
 */

export type ShapeCheck = (value: unknown) => string | undefined;

type Rule = (v: unknown) => string | undefined;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const text: Rule = (v) => (typeof v === 'string' && v.length > 0 && v.length <= 4096 ? undefined : 'is not a non-empty string');
const hex = (min: number, max: number): Rule => (v) => (typeof v === 'string' && new RegExp(`^[0-9a-f]{${min},${max}}$`).test(v) ? undefined : `is not ${min === max ? min : `${min} to ${max}`} hex digits`);
const port: Rule = (v) => (Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535 ? undefined : 'is not a port number');
// It is written into etcd.conf: one word, never anything that could start a new line.
const clusterToken: Rule = (v) => (typeof v === 'string' && /^[A-Za-z0-9._-]{1,128}$/.test(v) ? undefined : 'is not a cluster token (1 to 128 of A-Z a-z 0-9 . _ -)');
const optional = (rule: Rule): Rule => (v) => (v === undefined ? undefined : rule(v));

function record(fields: Record<string, Rule>): Rule {
  return (v) => {
    if (!isObject(v)) return `is ${Array.isArray(v) ? 'a list' : v === null ? 'null' : typeof v}, not an object`;
    for (const [key, rule] of Object.entries(fields)) {
      const problem = rule(v[key]);
      if (problem !== undefined) return `${key} ${problem}`;
    }
    return undefined;
  };
}

function list(item: Rule, max: number): Rule {
  return (v) => {
    if (!Array.isArray(v)) return 'is not a list';
    if (v.length > max) return `has ${v.length} entries (at most ${max})`;
    for (const [i, e] of v.entries()) {
      const problem = item(e);
      if (problem !== undefined) return `[${i}] ${problem}`;
    }
    return undefined;
  };
}

const candidate = record({ nodeId: hex(32, 32), name: text, address: text, peerApiPort: port, etcdPeerPort: port, etcdClientPort: port });

export const IDENTITY_SHAPE: ShapeCheck = record({ nodeId: hex(32, 32), createdAt: text });
export const VIEW_SHAPE: ShapeCheck = record({ clusterName: text, view: list(candidate, 15), committedAt: text });
export const ENROLLMENT_SHAPE: ShapeCheck = record({
  clusterName: text,
  initialClusterToken: clusterToken,
  view: list(candidate, 15),
  caFingerprint: text,
  enrolledAt: text,
  dataDirClaimedAt: optional((v) => (typeof v === 'string' ? undefined : 'is not a string')),
});
export const FORMED_SHAPE: ShapeCheck = record({ clusterName: text, clusterId: hex(1, 16), memberId: hex(1, 16), formedAt: text });
export const HOLDER_SHAPE: ShapeCheck = record({ clusterName: text, initialClusterToken: clusterToken, createdAt: text });
