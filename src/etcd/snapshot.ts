/**
 * Streams a snapshot of one member's backend (etcd's Maintenance.Snapshot,
 * what `etcdctl snapshot save` uses) into a sink, with backpressure: the
 * stream pauses while the sink writes, so a slow disk never makes the agent
 * buffer the database in memory. The whole transfer is bounded by a deadline.
 */
import { describeError } from '../util/errors.js';
import { withClient, type EtcdTls } from './client.js';
import { EtcdUnreachable } from './errors.js';

export interface SnapshotStreamOptions {
  /** Bound on the whole transfer. */
  timeoutMs: number;
  /** Called for each chunk in order; the stream waits for it. */
  write(chunk: Buffer): Promise<void>;
  /** Aborts the transfer (agent stopping). */
  signal?: AbortSignal;
}

/** What the grpc stream behind etcd3's IResponseStream also offers (it is a Node Readable). */
interface FlowControl {
  pause?(): void;
  resume?(): void;
  cancel?(): void;
}

interface SnapshotChunk {
  remaining_bytes: string;
  blob: Buffer;
}

/**
 * Returns the number of bytes received (database plus its trailing SHA-256).
 * A failure of the sink (a full disk) is thrown as the sink threw it; any
 * other failure is EA_ETCD_UNREACHABLE naming the endpoint.
 */
export async function streamSnapshot(endpoint: string, tls: EtcdTls, options: SnapshotStreamOptions): Promise<{ bytes: number }> {
  let sinkError: { err: unknown } | undefined;
  try {
    return await transfer(endpoint, tls, options, (err) => {
      sinkError ??= { err };
    });
  } catch (err) {
    if (sinkError) throw sinkError.err;
    throw err;
  }
}

function transfer(endpoint: string, tls: EtcdTls, options: SnapshotStreamOptions, sinkFailed: (err: unknown) => void): Promise<{ bytes: number }> {
  return withClient([endpoint], tls, options.timeoutMs, async (client) => {
    const stream = await client.maintenance.snapshot();
    const flow = stream as unknown as FlowControl;
    let bytes = 0;
    let lastRemaining: string | undefined;
    await new Promise<void>((resolve, reject) => {
      let done = false;
      let writing = Promise.resolve();
      const fail = (err: unknown): void => {
        if (done) return;
        done = true;
        flow.cancel?.();
        reject(err);
      };
      const onAbort = (): void => fail(new Error('the snapshot was aborted (the agent is stopping)'));
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      stream.on('data', (item: SnapshotChunk) => {
        if (done) return;
        const blob = Buffer.from(item.blob);
        bytes += blob.length;
        lastRemaining = item.remaining_bytes;
        flow.pause?.();
        writing = writing.then(() => options.write(blob)).then(
          () => flow.resume?.(),
          (err: unknown) => {
            sinkFailed(err);
            fail(err);
          },
        );
      });
      stream.on('error', fail);
      stream.on('end', () => {
        void writing.then(() => {
          options.signal?.removeEventListener('abort', onAbort);
          if (done) return;
          // etcd sends the hash last, with remaining_bytes 0: anything else is a stream cut short.
          if (lastRemaining !== '0') return fail(new Error(`the stream ended early (${bytes} bytes received, ${lastRemaining ?? 'no'} bytes announced as remaining)`));
          done = true;
          resolve();
        }, fail);
      });
    }).catch((err: unknown) => {
      throw EtcdUnreachable(endpoint, `snapshot stream: ${describeError(err)}`);
    });
    return { bytes };
  });
}
