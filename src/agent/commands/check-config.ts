import { resolve } from 'node:path';
import { loadConfigDetailed, renderConfigSummary } from '../config/index.js';
import { parseCommandArgs, type CliIo } from './args.js';

/** `etcd-agent check-config [--config PATH]`: 0 and a summary, or 2 and every problem (thrown as a ConfigError). */
export async function checkConfigCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('check-config', args, { config: { type: 'string' } });
  const options: { path?: string; env: NodeJS.ProcessEnv } = { env: io.env };
  if (values.config !== undefined) options.path = resolve(io.cwd, values.config);
  const { config, warnings } = await loadConfigDetailed(options);
  for (const w of warnings) io.stderr.write(`etcd-agent: warning: ${w.message}\n`);
  io.stdout.write(`config ${config.source ?? ''} is valid\n${renderConfigSummary(config)}\n`);
  return 0;
}
