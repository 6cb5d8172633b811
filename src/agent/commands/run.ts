import { resolve } from 'node:path';
import { createNotifier } from '../../systemd/notify.js';
import { createLogger } from '../../util/log.js';
import { Agent } from '../agent.js';
import { isNotConfiguredError, loadConfigDetailed } from '../config/index.js';
import { chooseServiceManager } from '../service-manager-choice.js';
import { AgentError } from '../../util/errors.js';
import { interruptedRestore } from '../restore/restore.js';
import { checkDataDir } from './data-dir-check.js';
import { defaultIo, parseCommandArgs, reportError, wantsHelp, type CliIo } from './args.js';
import { packageVersion } from './version.js';

/** After stop(), how long the process may take to exit on its own before it is ended. */
const EXIT_GRACE_MS = 2000;
/** The whole stop, at most (below the unit's TimeoutStopSec=30s). */
const STOP_DEADLINE_MS = 20_000;

export const RUN_USAGE = `Usage: etcd-agent run [--config PATH] [--root DIR]

Runs the agent daemon in the foreground: discovery, election of the CA holder,
enrollment, etcd configuration and supervision, and the local status API.
Logs are JSON lines on stderr. SIGTERM or SIGINT stops it cleanly.

Options:
  --config PATH   agent config (default /etc/etcd-agent/config.yaml, or $ETCD_AGENT_CONFIG)
  --root DIR      the node lives under DIR (as with \`etcd-agent init --root\`): the
                  default config is DIR/etc/etcd-agent/config.yaml, and DIR
                  overrides paths.root
`;

/** `etcd-agent run`: resolves when the agent has stopped after a signal. */
export async function runCommand(args: string[], io: CliIo = defaultIo()): Promise<number> {
  if (wantsHelp(args)) {
    io.stdout.write(RUN_USAGE);
    return 0;
  }
  const notifier = createNotifier(io.env);
  let agent: Agent | undefined;
  try {
    const { values } = parseCommandArgs('run', args, { config: { type: 'string' }, root: { type: 'string' } });
    const { config, warnings } = await loadConfigDetailed({
      env: io.env,
      ...(values.config !== undefined ? { path: resolve(io.cwd, values.config) } : {}),
      ...(values.root !== undefined ? { root: resolve(io.cwd, values.root) } : {}),
    });
    // Before the agent writes anything (state, keys, etcd.conf): a data dir that is not ours is a config error.
    await checkDataDir(config);
    const unfinished = await interruptedRestore(config);
    if (unfinished) throw new AgentError('EA_RESTORE_INTERRUPTED', unfinished);
    const logger = createLogger({ level: config.log.level });
    for (const w of warnings) logger.warn({ component: 'config', key: w.key }, w.message);
    const serviceManager = chooseServiceManager(config, logger);
    agent = new Agent({ config, logger, version: packageVersion(), serviceManager });
    agent.onPhase((phase, reason) => notifier.status(`${phase}: ${reason}`));
    await agent.start();
    // STATUS= before READY=1, so `systemctl status` never shows an empty status line.
    const first = agent.report();
    notifier.status(`${first.phase}: ${first.reason}`);
    notifier.ready();
    const running = agent;
    notifier.startWatchdog(() => running.loopAlive());
    installTestHooks(io.env);
    await waitForSignal();
    logger.info({ component: 'agent' }, 'stopping on signal');
    notifier.stopping();
    // Whatever hangs in the stop itself, the process ends before systemd's TimeoutStopSec (30 s) would kill it.
    setTimeout(() => process.exit(0), STOP_DEADLINE_MS).unref();
    await running.stop();
    // Everything is closed that the agent owns; a client still retrying an etcd that is gone (a halting host
    // stops etcd too) must not keep the process alive past systemd's TimeoutStopSec. Unref'd: a clean exit
    // does not wait for it.
    setTimeout(() => process.exit(0), EXIT_GRACE_MS).unref();
    return 0;
  } catch (err) {
    if (isNotConfiguredError(err)) {
      // Installed but not configured yet: nothing to run, nothing failed. Under
      // systemd (Type=notify) a main process that exits before READY=1 counts as
      // a protocol failure and Restart= starts it again; after READY=1 an exit 0
      // leaves the unit inactive, not failed, and not restarting.
      io.stderr.write(`etcd-agent: ${err.message}\n`);
      notifier.status('not configured: run etcd-agent init, then start the agent again');
      notifier.ready();
      return 0;
    }
    notifier.status(`failed: ${err instanceof Error ? err.message : String(err)}`);
    await agent?.stop().catch(() => undefined);
    return reportError(io, err);
  } finally {
    notifier.close();
  }
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolveSignal) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolveSignal(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/**
 * Test-only: with ETCD_AGENT_TEST_HOOKS=block-loop-on-sigusr2, SIGUSR2 blocks
 * the event loop for good, so a test can prove that systemd's watchdog
 * restarts a hung agent. Never set in packaging or docs for operators.
 */
function installTestHooks(env: NodeJS.ProcessEnv): void {
  if (env.ETCD_AGENT_TEST_HOOKS !== 'block-loop-on-sigusr2') return;
  process.on('SIGUSR2', () => {
    for (;;) {
      // spin: the event loop never runs again
    }
  });
}
