import { mkdir, readFile, chmod, unlink, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { defineError } from '../../util/errors.js';
import { keyMatchesCertificate } from '../../pki/index.js';
import { readFileIfExists, syncDir, writeFileAtomic } from '../../util/atomic-write.js';
import { failpoint } from '../../util/failpoint.js';
import type { View } from '../peer/protocol.js';
import { ENROLLMENT_SHAPE, FORMED_SHAPE, HOLDER_SHAPE, IDENTITY_SHAPE, VIEW_SHAPE, type ShapeCheck } from './state-shapes.js';

export interface NodeIdentity {
  nodeId: string;
  createdAt: string;
}

/** Written when the initial members are agreed; never changed afterwards. */
export interface CommittedView {
  clusterName: string;
  view: View;
  committedAt: string;
}

/** Written by every node once it holds its certificate. */
export interface Enrollment {
  clusterName: string;
  initialClusterToken: string;
  view: View;
  caFingerprint: string;
  enrolledAt: string;
  /** Set just before etcd first starts on an empty data dir. */
  dataDirClaimedAt?: string;
}

/** Written once the cluster has formed: from now on nothing bootstraps again. */
export interface FormedMarker {
  clusterName: string;
  clusterId: string;
  memberId: string;
  formedAt: string;
}

/** The CA holder's own record of what it hands out. */
export interface HolderRecord {
  clusterName: string;
  initialClusterToken: string;
  createdAt: string;
}

export const StateCorrupt = defineError(
  'EA_STATE_CORRUPT',
  (file: string, why: string) =>
    `agent state file ${file} is unreadable (${why}); it was left untouched — restore it from a backup, or move it away to let the agent start over for this step`,
);

export const CaKeyMissing = defineError(
  'EA_CA_KEY_MISSING',
  (cert: string, key: string) =>
    `the CA certificate ${cert} exists but its key ${key} does not (the agent never writes the certificate before the key, so the key was removed); restore ${key} from a backup — without it this CA holder cannot sign, and it will not make a second CA for a cluster that may already use this one`,
  1,
);

/**
 * The agent's persistent state in its state dir (0700). Each record is one
 * small JSON file written atomically; the CA key lives here on the holder only.
 */
export class StateStore {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /**
   * This node's id: the key id of its node key (see pki/key-id.ts), so that
   * nobody without that key can claim it. A node that agreed on initial
   * members under an older random id keeps it (its cluster knows it by it);
   * peers then recognise it by its cluster certificate instead.
   */
  async identity(keyId: string): Promise<NodeIdentity> {
    const existing = await this.read<NodeIdentity>('identity.json', IDENTITY_SHAPE);
    if (existing) {
      if (!/^[0-9a-f]{32}$/.test(existing.nodeId)) throw StateCorrupt(this.path('identity.json'), 'nodeId is not 32 hex digits');
      if (existing.nodeId === keyId || (await this.view())) return existing;
    }
    const identity: NodeIdentity = { nodeId: keyId, createdAt: new Date().toISOString() };
    await this.write('identity.json', identity);
    return identity;
  }

  view(): Promise<CommittedView | undefined> {
    return this.read<CommittedView>('view.json', VIEW_SHAPE);
  }
  saveView(v: CommittedView): Promise<void> {
    return this.write('view.json', v);
  }

  enrollment(): Promise<Enrollment | undefined> {
    return this.read<Enrollment>('enrollment.json', ENROLLMENT_SHAPE);
  }
  saveEnrollment(e: Enrollment): Promise<void> {
    return this.write('enrollment.json', e);
  }

  formed(): Promise<FormedMarker | undefined> {
    return this.read<FormedMarker>('formed.json', FORMED_SHAPE);
  }
  saveFormed(f: FormedMarker): Promise<void> {
    return this.write('formed.json', f);
  }

  holder(): Promise<HolderRecord | undefined> {
    return this.read<HolderRecord>('holder.json', HOLDER_SHAPE);
  }
  saveHolder(h: HolderRecord): Promise<void> {
    return this.write('holder.json', h);
  }

  /**
   * The CA as the holder left it. ca.key is always written before ca.crt, and
   * the holder signs nothing until both are written, so ca.crt is the commit
   * point: a ca.key without ca.crt is a CA that was being made when the agent
   * died and never signed anything (see setAsideUnfinishedCa). A ca.crt without
   * ca.key, or a pair that does not match, is a real loss.
   */
  async caMaterial(): Promise<{ certPem: string; keyPem: string } | undefined> {
    const [certPem, keyPem] = await Promise.all([
      readFileIfExists(this.path('ca.crt')),
      readFileIfExists(this.path('ca.key')),
    ]);
    if (certPem === undefined && keyPem === undefined) return undefined;
    if (keyPem === undefined) throw CaKeyMissing(this.path('ca.crt'), this.path('ca.key'));
    if (certPem === undefined) {
      throw StateCorrupt(this.path('ca.crt'), 'it is missing while ca.key exists');
    }
    if (!keyMatchesCertificate(keyPem, certPem)) {
      throw StateCorrupt(this.path('ca.key'), 'it is not the key of ca.crt');
    }
    return { certPem, keyPem };
  }

  /**
   * Key first, certificate last: whatever the moment of a crash, the pair is
   * either complete or an unfinished key that nothing was signed with.
   */
  async saveCaMaterial(ca: { certPem: string; keyPem: string }): Promise<void> {
    await writeFileAtomic(this.path('ca.key'), ca.keyPem, { mode: 0o600 });
    failpoint('ca-key-written');
    await writeFileAtomic(this.path('ca.crt'), ca.certPem, { mode: 0o644 });
  }

  /**
   * When ca.key exists without ca.crt (the holder died while making the CA),
   * renames the key to ca.key.unfinished-<time> so the CA can be made again,
   * and returns the new name. The key is kept, not deleted: key material is
   * never destroyed on an inference. Returns undefined when there is nothing to do.
   */
  async setAsideUnfinishedCa(): Promise<string | undefined> {
    const key = this.path('ca.key');
    if ((await readFileIfExists(this.path('ca.crt'))) !== undefined) return undefined;
    if ((await readFileIfExists(key)) === undefined) return undefined;
    const aside = this.path(`ca.key.unfinished-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    await rename(key, aside);
    await syncDir(this.dir);
    return aside;
  }

  async remove(name: string): Promise<void> {
    await unlink(this.path(name)).catch(() => undefined);
  }

  private async read<T>(name: string, shape: ShapeCheck): Promise<T | undefined> {
    const file = this.path(name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw StateCorrupt(file, (err as Error).message);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw StateCorrupt(file, `not JSON: ${(err as Error).message}`);
    }
    const problem = shape(value);
    if (problem !== undefined) throw StateCorrupt(file, `not what the agent writes there: ${problem}`);
    return value as T;
  }

  private async write(name: string, value: unknown): Promise<void> {
    await writeFileAtomic(this.path(name), `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600, dirMode: 0o700 });
  }
}
