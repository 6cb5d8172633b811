import { createRequire } from 'node:module';

/** The sd_notify messages the agent sends when run as a Type=notify unit. */
export interface Notifier {
  readonly active: boolean;
  ready(): void;
  status(text: string): void;
  stopping(): void;
  /** Pings WATCHDOG=1 every half WatchdogSec while `alive()` says the agent loop runs. */
  startWatchdog(alive: () => boolean): void;
  close(): void;
}

interface SdNotifyModule {
  ready(): void;
  sendStatus(text: string): void;
  stopping(pid?: number): void;
  watchdog(): void;
  watchdogInterval(): number;
}

/**
 * A notifier that talks to systemd when NOTIFY_SOCKET is set and does nothing
 * otherwise (terminal, process backend, tests). The native addon is loaded
 * only when it will be used.
 */
export function createNotifier(env: NodeJS.ProcessEnv = process.env): Notifier {
  if (!env.NOTIFY_SOCKET) return noopNotifier;
  let sd: SdNotifyModule;
  try {
    sd = createRequire(import.meta.url)('sd-notify') as SdNotifyModule;
  } catch {
    return noopNotifier;
  }
  let timer: NodeJS.Timeout | undefined;
  return {
    active: true,
    ready: () => sd.ready(),
    // systemd shows one line; keep it short and free of newlines.
    status: (text) => sd.sendStatus(text.replace(/\s+/g, ' ').slice(0, 200)),
    stopping: () => sd.stopping(process.pid),
    startWatchdog(alive) {
      const usec = Number(env.WATCHDOG_USEC ?? 0);
      if (!usec) return;
      const periodMs = Math.max(500, Math.floor(usec / 1000 / 2));
      timer = setInterval(() => {
        if (alive()) sd.watchdog();
      }, periodMs);
      timer.unref();
    },
    close() {
      clearInterval(timer);
    },
  };
}

const noopNotifier: Notifier = {
  active: false,
  ready() {},
  status() {},
  stopping() {},
  startWatchdog() {},
  close() {},
};
