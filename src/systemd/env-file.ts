// Moved to src/util/env-file.ts (shared with src/etcd); kept as a re-export for the modules here.
export { parseEnvFile as parseEnvironmentFile } from '../util/env-file.js';
