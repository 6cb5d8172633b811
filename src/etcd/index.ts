export * from './conf.js';
export * from './etcdctl-env.js';
export * from './client.js';
export { EtcdConfInvalid, EtcdUnreachable } from './errors.js';
export { formatEnvValue } from './env-file.js';
