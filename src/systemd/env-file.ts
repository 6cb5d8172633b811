/**
 * The etcd environment file as both service backends read it before a start
 * (the process backend to build etcd's environment, the systemd backend to find
 * the key files to hand to the etcd user): read once, parsed with systemd's own
 * `EnvironmentFile=` rules, or refused naming the file.
 */
import { readFile } from 'node:fs/promises';
import { parseEnvFile } from '../util/env-file.js';
import { describeError } from '../util/errors.js';
import { SvcEnvFileUnreadable } from './errors.js';

/** The variables in `path`; throws EA_SVC_ENVFILE_UNREADABLE when it cannot be read. */
export async function readServiceEnvFile(path: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw SvcEnvFileUnreadable(path, describeError(err));
  }
  return parseEnvFile(text);
}
