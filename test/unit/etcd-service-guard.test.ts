/**
 * etcd is never started with state `existing` on a claimed data dir without
 * etcd data (a wiped member); only a member's first start (its claim) happens
 * on an empty data dir; and the start-empty marker that etcd.service's condition reads exists only
 * while a new member is about to start on an empty data dir.
 */
import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore, type Enrollment } from '../../src/agent/bootstrap/state-store.js';
import { validateRawConfig, type AgentConfig } from '../../src/agent/config/index.js';
import { EtcdService, START_EMPTY_MARKER } from '../../src/agent/controllers/etcd-service.js';
import { CLAIM_FILE, readDataDirClaim, writeDataDirClaim } from '../../src/agent/files/data-dir.js';
import { pkiPaths } from '../../src/agent/files/pki-files.js';
import { generateToken } from '../../src/pki/token.js';
import type { ServiceManager, ServiceSpec, ServiceStatus } from '../../src/systemd/service-manager.js';

class FakeManager implements ServiceManager {
  readonly kind = 'systemd' as const;
  calls: string[] = [];
  spec: ServiceSpec | undefined;
  state: ServiceStatus['state'] = 'inactive';
  async install(spec: ServiceSpec): Promise<{ changed: boolean }> {
    const changed = JSON.stringify(spec) !== JSON.stringify(this.spec);
    this.spec = spec;
    return { changed };
  }
  async enable(): Promise<void> {}
  async start(): Promise<void> {
    this.calls.push('start');
    this.state = 'active';
  }
  async restart(): Promise<void> {
    this.calls.push('restart');
    this.state = 'active';
  }
  async stop(): Promise<void> {
    this.calls.push('stop');
    this.state = 'inactive';
  }
  async refreshStatus(): Promise<ServiceStatus> {
    return this.status();
  }
  status(): ServiceStatus {
    return { state: this.state, restarts: 0, detail: '', recentLog: [] };
  }
  async close(): Promise<void> {}
}

async function node(t: Test): Promise<{ config: AgentConfig; service: EtcdService; manager: FakeManager; store: StateStore; marker: string }> {
  const root = await mkdtemp(join(tmpdir(), 'ea-guard-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const result = validateRawConfig(
    { cluster: { name: 'prod', size: 3, token: generateToken() }, node: { name: 'n1', advertiseAddress: '127.0.65.10' }, paths: { root } },
    {},
    { source: join(root, 'config.yaml'), hostname: 'n1', networkInterfaces: {} },
  );
  if (result.config === undefined) throw new Error(JSON.stringify(result.problems));
  const config = result.config;
  const store = new StateStore(config.paths.stateDir);
  await store.init();
  const manager = new FakeManager();
  const service = new EtcdService(config, store, pkiPaths(config.paths.pkiDir), manager);
  return { config, service, manager, store, marker: join(config.paths.stateDir, START_EMPTY_MARKER) };
}

const enrollment = (claimed: boolean): Enrollment => ({
  clusterName: 'prod',
  initialClusterToken: 'prod-x',
  view: [{ nodeId: '1'.repeat(32), name: 'n1', address: '127.0.65.10', peerApiPort: 2390, etcdPeerPort: 2380, etcdClientPort: 2379 }],
  caFingerprint: 'ab',
  enrolledAt: new Date().toISOString(),
  ...(claimed ? { dataDirClaimedAt: new Date().toISOString() } : {}),
});

async function writeMember(config: AgentConfig): Promise<void> {
  await mkdir(join(config.etcd.dataDir, 'member', 'wal'), { recursive: true });
  await writeFile(join(config.etcd.dataDir, 'member', 'wal', '0.wal'), 'raft');
}

t.test('a formed member with a wiped data dir: etcd is not started', async (t) => {
  for (const wipe of ['absent', 'empty'] as const) {
    const { config, service, manager, marker } = await node(t);
    if (wipe === 'empty') await mkdir(config.etcd.dataDir, { recursive: true });
    await t.rejects(service.ensureRunning(enrollment(true), 'existing'), { code: 'EA_ETCD_DATA_DIR_WIPED', message: new RegExp(config.etcd.dataDir) }, `${wipe}: refused`);
    t.same(manager.calls, [], `${wipe}: etcd not started`);
    t.notOk(existsSync(marker), `${wipe}: etcd.service may not start on it either`);
    t.equal(manager.spec?.startEmptyMarker, marker, 'the unit is told which marker allows a start on an empty data dir');
    t.equal(await service.dataDirEmpty(), true);
  }
});

t.test('a formed member with its data: started; the marker is gone', async (t) => {
  const { config, service, manager, marker } = await node(t);
  await writeMember(config);
  await writeFile(marker, 'left over');
  t.equal(await service.ensureRunning(enrollment(true), 'existing'), 'starting etcd (systemd service manager)');
  t.same(manager.calls, ['start']);
  t.notOk(existsSync(marker), 'a data dir with data never needs the marker');
  t.equal(await service.dataDirEmpty(), false);
});

t.test('a joining or re-added member (existing, not claimed yet) starts on its empty data dir once, claiming it', async (t) => {
  const { config, service, manager, marker, store } = await node(t);
  const e = enrollment(false);
  t.ok(await service.ensureRunning(e, 'existing'));
  t.same(manager.calls, ['start']);
  t.ok(existsSync(marker), 'etcd.service may start on the empty data dir');
  t.ok((await store.enrollment())?.dataDirClaimedAt, 'claimed');
  await writeMember(config);
  t.equal(await service.ensureRunning(e, 'existing'), undefined, 'running: nothing to do');
  t.notOk(existsSync(marker), 'etcd has its data: the marker is removed');
  // Wiped again later: the claim was used.
  manager.state = 'inactive';
  await rm(config.etcd.dataDir, { recursive: true });
  await t.rejects(service.ensureRunning(e, 'existing'), { code: 'EA_ETCD_DATA_DIR_WIPED' });
  t.same(manager.calls, ['start'], 'not started again');
});

t.test('stopped between claiming the data dir and etcd\'s first start: the next start is that first start, not a wiped member', async (t) => {
  const { config, service, manager, marker, store } = await node(t);
  // The marker is written before the claim is recorded: a store that fails right at the claim shows the order.
  const failing = Object.assign(Object.create(store) as StateStore, {
    saveEnrollment: async (): Promise<void> => {
      throw new Error('stopped here');
    },
  });
  const first = new EtcdService(config, failing, pkiPaths(config.paths.pkiDir), manager);
  await t.rejects(first.ensureRunning(enrollment(false), 'existing'), /stopped here/);
  t.ok(existsSync(marker), 'the marker exists before the claim is recorded');
  t.same(manager.calls, [], 'etcd did not start');

  // Restarted with the claim recorded (killed just after it, as the data-dir-claimed failpoint does): etcd starts.
  t.equal(await service.ensureRunning(enrollment(true), 'existing'), 'starting etcd (systemd service manager)', 'the first start happens now');
  t.same(manager.calls, ['start']);
  t.ok(existsSync(marker), 'on the empty data dir, as a first start');
  await writeMember(config);
  t.equal(await service.ensureRunning(enrollment(true), 'existing'), undefined);
  t.notOk(existsSync(marker), 'etcd wrote its data: the marker is gone, and a later wipe is a wipe again');
  manager.state = 'inactive';
  await rm(config.etcd.dataDir, { recursive: true });
  await t.rejects(service.ensureRunning(enrollment(true), 'existing'), { code: 'EA_ETCD_DATA_DIR_WIPED' });
});

t.test('wiped right after formation, before any later service round: a wipe, not a first start', async (t) => {
  // Found by repair-datadir under load: the member formed, was stopped a second later and its data dir
  // removed; the marker of its first start was still there, so etcd was started on the empty dir.
  const { config, service, manager, marker } = await node(t);
  t.ok(await service.ensureRunning(enrollment(false), 'existing'), 'first start');
  t.ok(existsSync(marker));
  await writeMember(config);
  await service.firstStartDone();
  t.notOk(existsSync(marker), 'etcd answered as this member: the marker goes at once');
  manager.state = 'inactive';
  await rm(config.etcd.dataDir, { recursive: true });
  await t.rejects(service.ensureRunning(enrollment(true), 'existing'), { code: 'EA_ETCD_DATA_DIR_WIPED' });
  t.same(manager.calls, ['start'], 'not started on the wiped dir');
});

t.test('a member\'s first start never happens on data it did not create', async (t) => {
  const { config, service, manager } = await node(t);
  await mkdir(join(config.etcd.dataDir, 'other'), { recursive: true });
  await t.rejects(service.ensureRunning(enrollment(false), 'existing'), { code: 'EA_ETCD_DATA_DIR_IN_USE' });
  t.same(manager.calls, []);
});

t.test('bootstrap (state new): the claim and the marker come before the first start', async (t) => {
  const { config, service, manager, marker, store } = await node(t);
  const e = enrollment(false);
  t.ok(await service.ensureRunning(e, 'new'));
  t.same(manager.calls, ['start']);
  t.ok(existsSync(marker), 'etcd.service may start on the empty data dir');
  t.ok((await store.enrollment())?.dataDirClaimedAt, 'claimed');
  t.match(await readFile(config.paths.confFile, 'utf8'), /^ETCD_INITIAL_CLUSTER_STATE=new$/m);
  await writeMember(config);
  await service.ensureRunning(e, 'new');
  t.notOk(existsSync(marker), 'gone once etcd has written its data');
});

t.test('the claim is written into the data dir too; a formed member without one gets it', async (t) => {
  const { config, service } = await node(t);
  await service.ensureRunning(enrollment(false), 'new');
  t.match(await readDataDirClaim(config.etcd.dataDir), { cluster: 'prod', name: 'n1' }, 'claimed at the first start');

  const other = await node(t);
  await writeMember(other.config);
  t.equal(await readDataDirClaim(other.config.etcd.dataDir), undefined);
  await other.service.ensureRunning(enrollment(true), 'existing');
  t.match(await readDataDirClaim(other.config.etcd.dataDir), { cluster: 'prod', name: 'n1' }, 'written for a member claimed before the file existed');
});

t.test('a new cluster\'s member refuses even this node\'s own earlier data (only a re-admitted member moves it aside)', async (t) => {
  const { config, service, manager } = await node(t);
  await writeMember(config);
  await writeDataDirClaim(config.etcd.dataDir, { cluster: 'prod', name: 'n1', claimedAt: '2024-01-01T00:00:00.000Z' });
  await t.rejects(service.ensureRunning(enrollment(false), 'new'), { code: 'EA_ETCD_DATA_DIR_IN_USE' });
  t.same(manager.calls, []);
  t.ok(existsSync(join(config.etcd.dataDir, 'member', 'wal', '0.wal')), 'the data is left where it is');
  t.ok(existsSync(join(config.etcd.dataDir, CLAIM_FILE)));
});

t.test('a stale "not running" snapshot is checked with the service manager before anything is started', async (t) => {
  const { config, service, manager } = await node(t);
  t.ok(await service.ensureRunning(enrollment(false), 'new'), 'first start');
  await writeMember(config);
  t.equal(await service.ensureRunning(enrollment(true), 'new'), undefined, 'running: nothing to do');
  // The systemd backend's snapshot can be seconds old: it says inactive while etcd runs.
  let stale = true;
  const status = manager.status.bind(manager);
  manager.status = () => (stale ? { ...status(), state: 'inactive' } : status());
  const refreshStatus = manager.refreshStatus.bind(manager);
  manager.refreshStatus = async () => {
    stale = false;
    return refreshStatus();
  };
  manager.calls.length = 0;
  t.equal(await service.ensureRunning(enrollment(true), 'new'), undefined, 'asked again: running, nothing to do');
  t.same(manager.calls, [], 'not started again');
  t.equal(stale, false, 'the service manager was asked');
});
