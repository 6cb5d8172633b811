export * from './service-manager.js';
export {
  ProcessServiceManager,
  buildServiceEnv,
  formatDelay,
  nextBackoff,
  PID_FILE,
  LOG_FILE,
  type ProcessServiceManagerOptions,
} from './process-backend.js';
export { SvcBinaryMissing, SvcEnvFileUnreadable, SvcNotInstalled, SvcSpecInvalid, SvcStopFailed } from './errors.js';
export { createNotifier, type Notifier } from './notify.js';
