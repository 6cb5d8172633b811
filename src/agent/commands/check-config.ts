import { resolve } from 'node:path';
import { loadConfigDetailed, renderConfigSummary, type LoadConfigOptions } from '../config/index.js';
import { parseCommandArgs, type CliIo } from './args.js';
import { checkDataDir } from './data-dir-check.js';

/** `etcd-agent check-config [--config PATH] [--root DIR]`: 0 and a summary, or 2 and every problem (thrown as a ConfigError). */
export async function checkConfigCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseCommandArgs('check-config', args, { config: { type: 'string' }, root: { type: 'string' } });
  const options: LoadConfigOptions = { env: io.env };
  if (values.config !== undefined) options.path = resolve(io.cwd, values.config);
  if (values.root !== undefined) options.root = resolve(io.cwd, values.root);
  const { config, warnings } = await loadConfigDetailed(options);
  // `run` refuses a data dir that is not this node's; say so here too.
  await checkDataDir(config);
  for (const w of warnings) io.stderr.write(`etcd-agent: warning: ${w.message}\n`);
  io.stdout.write(`config ${config.source ?? ''} is valid\n${renderConfigSummary(config)}\n`);
  return 0;
}
