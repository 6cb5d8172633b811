import { request } from 'node:http';
import { resolve } from 'node:path';
import { AgentError } from '../../util/errors.js';
import { isLoopbackAddress, loadConfig, parseHostPort } from '../config/index.js';
import type { StatusReport } from '../status/model.js';
import { renderStatusText } from '../status/render.js';
import { jsonForTerminal } from '../../util/terminal.js';
import { defaultIo, parseCommandArgs, reportError, usageError, wantsHelp, type CliIo } from './args.js';

export const STATUS_USAGE = `Usage: etcd-agent status [--json] [--address HOST:PORT] [--config PATH]

Asks the local agent's status API what this node is doing and why, and prints
a table (or the raw JSON with --json). Exit code 0 when the node is ready
(its etcd member serves and the cluster has a leader), 3 when it is not ready
yet, 1 when the agent does not answer.

Options:
  --json               print the /status JSON
  --address HOST:PORT  status API address (default: statusApi.address from the config, else 127.0.0.1:2391)
  --config PATH        config to read the status address from
`;

const NOT_READY_EXIT = 3;

export async function statusCommand(args: string[], io: CliIo = defaultIo()): Promise<number> {
  if (wantsHelp(args)) {
    io.stdout.write(STATUS_USAGE);
    return 0;
  }
  try {
    const { values } = parseCommandArgs('status', args, {
      json: { type: 'boolean' },
      address: { type: 'string' },
      config: { type: 'string' },
    });
    const address = await statusAddress(values.address, values.config, io);
    const report = await fetchStatus(address.host, address.port);
    io.stdout.write(values.json ? `${jsonForTerminal(report)}\n` : renderStatusText(report));
    return report.ready ? 0 : NOT_READY_EXIT;
  } catch (err) {
    return reportError(io, err);
  }
}

async function statusAddress(flag: string | undefined, configPath: string | undefined, io: CliIo): Promise<{ host: string; port: number }> {
  if (flag !== undefined) {
    const parsed = parseHostPort(flag, 2391);
    if ('problem' in parsed) throw usageError(`--address ${flag} ${parsed.problem}`);
    // The status API only ever listens on loopback: asking anywhere else would send the request off the host.
    if (!isLoopbackAddress(parsed.host) && parsed.host !== 'localhost') {
      throw usageError(`--address ${flag} is not a loopback address; the status API listens on loopback only (e.g. 127.0.0.1:2391) — run \`etcd-agent status\` on the node itself`);
    }
    return { host: parsed.host, port: parsed.port };
  }
  try {
    const config = await loadConfig({ env: io.env, ...(configPath ? { path: resolve(io.cwd, configPath) } : {}) });
    return config.statusApi;
  } catch (err) {
    if (configPath !== undefined) throw err;
    return { host: '127.0.0.1', port: 2391 };
  }
}

function fetchStatus(host: string, port: number): Promise<StatusReport> {
  return new Promise((resolveReport, reject) => {
    const req = request({ host, port, path: '/status', method: 'GET', timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolveReport(JSON.parse(Buffer.concat(chunks).toString('utf8')) as StatusReport);
        } catch {
          reject(new AgentError('EA_STATUS_BAD_ANSWER', `the status API at ${host}:${port} answered something that is not JSON`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        new AgentError(
          'EA_STATUS_UNREACHABLE',
          `no agent answers at ${host}:${port} (${err.code ?? err.message}); is etcd-agent running? (systemctl status etcd-agent)`,
        ),
      ),
    );
    req.end();
  });
}
