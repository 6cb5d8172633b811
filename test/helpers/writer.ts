/**
 * A client that keeps writing to etcd while a test changes the cluster
 * (issue 10: "a writer client keeps writing throughout"). One etcd3 client,
 * one put every `intervalMs` to `<prefix><seq>`, each bounded; the report
 * says how many writes were tried, how many succeeded, which failed and why,
 * and the longest time between two successful writes.
 */
import { Etcd3 } from 'etcd3';
import type { EtcdTls } from '../../src/etcd/client.js';

export interface WriterReport {
  attempts: number;
  ok: number;
  failures: string[];
  maxGapMs: number;
  /** Keys written successfully. */
  keys: string[];
}

export function startWriter(endpoints: string[], tls: EtcdTls, prefix: string, intervalMs = 200, putTimeoutMs = 5000): { stop(): Promise<WriterReport> } {
  const client = new Etcd3({
    hosts: endpoints,
    credentials: { rootCertificate: Buffer.from(tls.caPem), privateKey: Buffer.from(tls.keyPem), certChain: Buffer.from(tls.certPem) },
  });
  const report: WriterReport = { attempts: 0, ok: 0, failures: [], maxGapMs: 0, keys: [] };
  let running = true;
  let lastOk = Date.now();
  const loop = (async () => {
    while (running) {
      const seq = report.attempts++;
      const key = `${prefix}${String(seq).padStart(6, '0')}`;
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          client.put(key).value(String(started)).exec(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${putTimeoutMs} ms`)), putTimeoutMs);
          }),
        ]);
        const now = Date.now();
        report.maxGapMs = Math.max(report.maxGapMs, now - lastOk);
        lastOk = now;
        report.ok++;
        report.keys.push(key);
      } catch (err) {
        report.failures.push(`${new Date(started).toISOString()} ${key}: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        clearTimeout(timer);
      }
      await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (Date.now() - started))));
    }
  })();
  let stopped: Promise<WriterReport> | undefined;
  return {
    /** Stops writing (idempotent) and reports. */
    stop() {
      stopped ??= (async () => {
        running = false;
        await loop;
        report.maxGapMs = Math.max(report.maxGapMs, Date.now() - lastOk);
        client.close();
        return report;
      })();
      return stopped;
    },
  };
}
