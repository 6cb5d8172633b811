import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs with stable field names: `component`, `peer`, `phase`,
 * `reason`, `err`. Secrets are redacted by path so a token can never reach a log
 * line even if someone logs a whole config object by mistake.
 */
export function createLogger(options: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'etcd-agent',
      level: options.level ?? 'info',
      redact: {
        paths: ['token', '*.token', 'cluster.token', 'config.cluster.token', 'proof', '*.proof', 'key', '*.privateKey', 'keyPem', '*.keyPem'],
        censor: '[redacted]',
      },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    (options.destination ?? process.stderr) as pino.DestinationStream,
  );
}

/** A logger that drops everything, for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
