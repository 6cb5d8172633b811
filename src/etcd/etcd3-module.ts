/**
 * etcd3 (with grpc-js and protobufjs: ≈440 ms and ≈13 MiB to load) is read on
 * first use, not at start-up: the agent's APIs listen before any etcd call is
 * made, and a node that never runs etcd (a spare, `etcd-agent status`) never
 * loads it. One import for the whole process; a failed import is retried on
 * the next call.
 */
import type * as Etcd3Module from 'etcd3';

export type Etcd3Lib = typeof Etcd3Module;

let loading: Promise<Etcd3Lib> | undefined;

export function loadEtcd3(): Promise<Etcd3Lib> {
  loading ??= import('etcd3').then(namedExports).catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  return loading;
}

/**
 * Node's own import of a CommonJS module offers its exports by name; the
 * bundled build (scripts/bundle.mjs) offers them as `default` only.
 */
function namedExports(mod: Etcd3Lib): Etcd3Lib {
  if (typeof mod.Etcd3 === 'function') return mod;
  const inner = (mod as unknown as { default?: Etcd3Lib }).default;
  if (inner !== undefined && typeof inner.Etcd3 === 'function') return inner;
  throw new Error('the etcd3 module has no Etcd3 client class (a broken install or bundle)');
}
