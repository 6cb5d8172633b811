export type { AgentConfig, SeedAddress, ServiceManagerKind } from './types.js';
export { loadConfig, loadConfigDetailed, resolveConfigPath, MAX_CONFIG_BYTES, type LoadConfigOptions, type LoadedConfig } from './load.js';
export { parseConfigText, setsNoKeys, MAX_CONFIG_DEPTH, MAX_ALIAS_COUNT } from './parse.js';
export {
  validateRawConfig,
  readTokenFileFromDisk,
  MAX_TOKEN_FILE_BYTES,
  formatSeeds,
  MANAGED_ETCD_ENV,
  type ValidateContext,
  type ValidationResult,
  type TokenFileRead,
} from './validate.js';
export { applyEnvOverrides, envValue, ENV_OVERRIDES, type EnvOverride, type EnvResult } from './env.js';
export {
  ConfigError,
  CONFIG_INVALID,
  NOT_CONFIGURED,
  NotConfiguredError,
  formatProblems,
  isConfigError,
  isNotConfiguredError,
  type ConfigProblem,
} from './errors.js';
export { renderConfigYaml, renderConfigSummary } from './render.js';
export { DEFAULTS, DEFAULT_CONFIG_PATH, FORBIDDEN_DATA_DIRS, TOKEN_FILE_NAME, defaultConfigPath, withRoot } from './defaults.js';
export {
  CONFIG_FIELDS,
  CONFIG_PATH_ENV,
  ENV_PREFIX,
  LOG_LEVELS,
  SERVICE_MANAGERS,
  envNameFor,
  type FieldSpec,
  type RawConfig,
  type RawValue,
} from './schema.js';
export { parseHostPort, formatHostPort, isLoopbackAddress, pickAdvertiseAddress, advertiseAddressProblem, type HostPort, type InterfaceMap } from './address.js';
