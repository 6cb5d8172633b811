/**
 * The environment the packaged unit gives the agent (`Environment=` lines of
 * packaging/systemd/etcd-agent.service), so the benches measure the agent as
 * it is shipped, not a bare `node` with glibc's and V8's defaults.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../test/helpers/fixtures.js';

/** `Environment=KEY=VALUE` lines of a unit file (one assignment per line, no quoting: the unit uses none). */
export function unitEnvironment(unitText: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of unitText.split('\n')) {
    const m = /^Environment=([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

export function shippedAgentEnvironment(): Record<string, string> {
  return unitEnvironment(readFileSync(join(REPO, 'packaging', 'systemd', 'etcd-agent.service'), 'utf8'));
}
