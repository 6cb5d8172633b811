/**
 * Who leads an etcd election: the candidate with the oldest key under the
 * candidates prefix, kept current by a watch of that prefix.
 *
 * etcd3's ElectionObserver is not used because it can name the wrong leader
 * for good. While the election is vacant it waits for puts, and its handler
 * keeps taking each new put as "the leader" until its watch is cancelled, a
 * step that is asynchronous. Two candidates that campaign within the same
 * moment (both survivors' grace periods end together after the CA maker
 * died) therefore leave it on the *younger* key. It then watches only that
 * key, which waits behind the real leader and is never deleted. The real
 * leader believes it is elected, every observer names the other one, and
 * nobody signs (found by the ca-maker-dies test, about half of its runs).
 * etcd's Go client takes the first put of a response, which is the oldest.
 *
 * Here the event content is never trusted: every watch response, and every
 * (re)connection of the watch, is answered by reading the oldest candidate
 * again. Reads are serialized, and one more read follows when events came in
 * during a read, so the last answer always reflects the last change.
 */
import type { IKeyValue, Namespace, Watcher } from 'etcd3';
import { describeError } from '../util/errors.js';
import { withDeadline } from './deadline.js';

export interface LeaderObserverHandlers {
  /** The leader's value changed (undefined: nobody leads). Called once at start with the current leader. */
  changed(value: string | undefined): void;
  /** The watch or a read failed; the observer has stopped. Observe again later. */
  failed(reason: string): void;
}

const UNSET = Symbol('unset');

export class LeaderObserver {
  private readonly watcher: Watcher;
  private reading = false;
  private readAgain = false;
  private stopped = false;
  private last: string | undefined | typeof UNSET = UNSET;
  private firstRead: { resolve(): void; reject(err: unknown): void } | undefined;

  /**
   * Starts watching `candidates` (the namespace of the election's candidate
   * keys). Resolves once the leader has been read once; rejects (and stops)
   * when that does not happen within `timeoutMs`.
   */
  static async start(candidates: Namespace, handlers: LeaderObserverHandlers, timeoutMs: number): Promise<LeaderObserver> {
    const observer = new LeaderObserver(candidates, handlers);
    try {
      await withDeadline(new Promise<void>((resolve, reject) => (observer.firstRead = { resolve, reject })), timeoutMs, 'observing the election');
    } catch (err) {
      await observer.stop();
      throw err;
    } finally {
      observer.firstRead = undefined;
    }
    return observer;
  }

  private constructor(
    private readonly candidates: Namespace,
    private readonly handlers: LeaderObserverHandlers,
  ) {
    // The leader is read after the watch is connected, so no change falls between the read and the watch.
    this.watcher = candidates.watch().prefix('').watcher();
    this.watcher.on('connected', () => this.refresh());
    this.watcher.on('data', () => this.refresh());
    this.watcher.on('error', (err: Error) => this.fail(describeError(err)));
  }

  /** False once stopped, or once the watch or a read failed. */
  running(): boolean {
    return !this.stopped;
  }

  /** Stops watching; never throws. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.watcher.cancel().catch(() => undefined);
  }

  private refresh(): void {
    if (this.stopped) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = true;
    void this.readUntilSettled().finally(() => {
      this.reading = false;
    });
  }

  private async readUntilSettled(): Promise<void> {
    do {
      this.readAgain = false;
      let oldest: IKeyValue | undefined;
      try {
        oldest = (await this.candidates.getAll().sort('Create', 'Ascend').limit(1).exec()).kvs[0];
      } catch (err) {
        this.fail(`reading the election's oldest candidate: ${describeError(err)}`);
        return;
      }
      if (this.stopped) return;
      this.publish(oldest?.value.toString());
    } while (this.readAgain && !this.stopped);
  }

  private publish(value: string | undefined): void {
    const first = this.last === UNSET;
    if (!first && value === this.last) return;
    this.last = value;
    if (this.firstRead) this.firstRead.resolve();
    this.handlers.changed(value);
  }

  private fail(reason: string): void {
    if (this.stopped) return;
    if (this.firstRead) {
      this.firstRead.reject(new Error(reason));
      return;
    }
    void this.stop();
    this.handlers.failed(reason);
  }
}
