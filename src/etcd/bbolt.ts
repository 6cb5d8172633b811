/**
 * A read-only walk over a bbolt database file (etcd's backend, and what an
 * etcd snapshot is), enough to do what `etcdctl snapshot status` does without
 * etcdctl: check the file's page structure the way bbolt's `tx.Check()` does,
 * compute the same CRC-32 hash over every bucket, key and value, count the
 * keys and find the store's revision (the last key of the `key` bucket).
 *
 * The layout (bbolt 1.3, little-endian on the hosts etcd runs on):
 *   page      = id u64 · flags u16 · count u16 · overflow u32 · data
 *   meta      = magic u32 · version u32 · pageSize u32 · flags u32 · root {pgid u64, seq u64}
 *               · freelist u64 · pgid (high-water mark) u64 · txid u64 · checksum u64 (FNV-1a 64 of the 56 bytes before)
 *   branch el = pos u32 · ksize u32 · pgid u64          (key at el + pos)
 *   leaf el   = flags u32 · pos u32 · ksize u32 · vsize u32 (key at el + pos, value right after)
 *   a leaf value flagged 0x01 is a bucket {root u64, seq u64}; root 0 means the bucket's page follows inline.
 *
 * etcdctl's hash is CRC-32C (Castagnoli), not the IEEE CRC-32 that zlib offers.
 *
 * Pages are read one at a time from the file, so a large snapshot never has
 * to fit in memory, and the walk yields to the event loop between reads.
 */
import { open, type FileHandle } from 'node:fs/promises';

const PAGE_HEADER = 16;
const ELEMENT = 16;
const META_SIZE = 64;
const MAGIC = 0xed0cdaed;
const BRANCH = 0x01;
const LEAF = 0x02;
const META = 0x04;
const FREELIST = 0x10;
const BUCKET_LEAF = 0x01;
const NO_FREELIST = 0xffffffffffffffffn;
/** Errors past this many are summarised: a wrecked file would otherwise list every page. */
const MAX_PROBLEMS = 20;

export interface BoltSummary {
  /** CRC-32C (Castagnoli) over bucket names, keys and values in order, as `etcdctl snapshot status` prints it. */
  hash: number;
  /** The main revision of the last key in the `key` bucket (0 when there is none). */
  revision: number;
  /** Every key of every bucket. */
  totalKey: number;
  /** Bytes of the database proper: high-water mark × page size. */
  totalSize: number;
  pageSize: number;
}

export class BoltFormatError extends Error {}

interface Meta {
  pageSize: number;
  root: bigint;
  freelist: bigint;
  hwm: bigint;
  txid: bigint;
}

interface Page {
  id: bigint;
  flags: number;
  count: number;
  overflow: number;
  /** The whole page including its overflow pages. */
  buf: Buffer;
}

/** Walks `path` (at most `limitBytes` of it: a snapshot's trailing hash is not part of the database). */
export async function inspectBolt(path: string, limitBytes?: number): Promise<BoltSummary> {
  const handle = await open(path, 'r');
  try {
    const size = limitBytes ?? (await handle.stat()).size;
    return await new Walk(handle, size).run();
  } finally {
    await handle.close();
  }
}

class Walk {
  private meta!: Meta;
  private readonly reachable = new Set<bigint>();
  private readonly freed = new Set<bigint>();
  private readonly problems: string[] = [];
  private problemCount = 0;
  private hashValue = 0;
  private totalKey = 0;
  private revision = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly size: number,
  ) {}

  async run(): Promise<BoltSummary> {
    this.meta = await this.readMeta();
    const { meta } = this;
    const totalSize = Number(meta.hwm) * meta.pageSize;
    if (totalSize > this.size) {
      throw new BoltFormatError(`the file is truncated: its header says ${totalSize} bytes of pages, it holds ${this.size}`);
    }
    this.reachable.add(0n);
    this.reachable.add(1n);
    if (meta.freelist !== NO_FREELIST) await this.readFreelist(meta.freelist);
    await this.walkRootBucket(meta.root);
    // With a freelist on disk every page below the high-water mark is either in use or free.
    if (meta.freelist !== NO_FREELIST) {
      for (let id = 0n; id < meta.hwm; id++) {
        if (!this.reachable.has(id) && !this.freed.has(id)) this.problem(`page ${id}: unreachable unfreed`);
      }
    }
    if (this.problemCount > 0) {
      const more = this.problemCount > this.problems.length ? `; and ${this.problemCount - this.problems.length} more` : '';
      throw new BoltFormatError(`integrity check failed, ${this.problemCount} error(s): ${this.problems.join('; ')}${more}`);
    }
    return { hash: this.hashValue >>> 0, revision: this.revision, totalKey: this.totalKey, totalSize, pageSize: meta.pageSize };
  }

  private problem(text: string): void {
    this.problemCount += 1;
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(text);
  }

  /** bbolt keeps two meta pages and uses the valid one with the higher transaction id. */
  private async readMeta(): Promise<Meta> {
    const first = await this.read(0, Math.min(4096, this.size));
    if (first.length < PAGE_HEADER + META_SIZE) throw new BoltFormatError(`not a bbolt database: only ${this.size} bytes`);
    const candidates: Meta[] = [];
    const why: string[] = [];
    const parse = (buf: Buffer, at: string): void => {
      const m = buf.subarray(PAGE_HEADER, PAGE_HEADER + META_SIZE);
      if ((buf.readUInt16LE(8) & META) === 0) return void why.push(`${at} is not a meta page`);
      if (m.readUInt32LE(0) !== MAGIC) return void why.push(`${at} has no bbolt magic number`);
      if (m.readBigUInt64LE(56) !== fnv64a(m.subarray(0, 56))) return void why.push(`${at} fails its checksum`);
      candidates.push({
        pageSize: m.readUInt32LE(8),
        root: m.readBigUInt64LE(16),
        freelist: m.readBigUInt64LE(32),
        hwm: m.readBigUInt64LE(40),
        txid: m.readBigUInt64LE(48),
      });
    };
    parse(first, 'meta page 0');
    // The second meta page sits one page further; its size comes from the first (or is the usual 4096).
    const pageSize = candidates[0]?.pageSize ?? 4096;
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw new BoltFormatError(`not a bbolt database: page size ${pageSize}`);
    if (this.size >= 2 * pageSize) parse(await this.read(pageSize, PAGE_HEADER + META_SIZE), 'meta page 1');
    if (candidates.length === 0) throw new BoltFormatError(`not a bbolt database: ${why.join('; ')}`);
    const meta = candidates.reduce((a, b) => (b.txid > a.txid ? b : a));
    if (meta.pageSize !== pageSize) throw new BoltFormatError(`the two meta pages disagree on the page size (${pageSize} and ${meta.pageSize})`);
    if (meta.hwm < 2n) throw new BoltFormatError(`high-water mark ${meta.hwm} is below the two meta pages`);
    return meta;
  }

  private async read(offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buf.subarray(0, done);
  }

  private async page(id: bigint): Promise<Page> {
    const { pageSize, hwm } = this.meta;
    if (id >= hwm) throw new BoltFormatError(`page ${id}: out of bounds: ${hwm}`);
    const offset = Number(id) * pageSize;
    const head = await this.read(offset, PAGE_HEADER);
    if (head.length < PAGE_HEADER) throw new BoltFormatError(`page ${id}: beyond the end of the file`);
    const overflow = head.readUInt32LE(12);
    if (id + BigInt(overflow) >= hwm) throw new BoltFormatError(`page ${id}: its ${overflow} overflow pages run past the high-water mark ${hwm}`);
    const length = (overflow + 1) * pageSize;
    const buf = await this.read(offset, length);
    if (buf.length < length) throw new BoltFormatError(`page ${id}: beyond the end of the file`);
    return { id: buf.readBigUInt64LE(0), flags: buf.readUInt16LE(8), count: buf.readUInt16LE(10), overflow, buf };
  }

  private async readFreelist(id: bigint): Promise<void> {
    const p = await this.page(id);
    if ((p.flags & FREELIST) === 0) return this.problem(`page ${id}: the meta page names it as the freelist, but it is not one`);
    for (let i = 0n; i <= BigInt(p.overflow); i++) this.reachable.add(id + i);
    let count = p.count;
    let at = PAGE_HEADER;
    if (count === 0xffff) {
      count = Number(p.buf.readBigUInt64LE(at));
      at += 8;
    }
    if (at + count * 8 > p.buf.length) return this.problem(`page ${id}: freelist of ${count} ids does not fit its page`);
    for (let i = 0; i < count; i++) {
      const free = p.buf.readBigUInt64LE(at + i * 8);
      if (this.freed.has(free)) this.problem(`page ${free}: already freed`);
      this.freed.add(free);
    }
  }

  /** The root bucket holds the top-level buckets; each is hashed as its name, then its keys and values. */
  private async walkRootBucket(root: bigint): Promise<void> {
    await this.walkTree(root, 'root bucket', async (key, value, flags) => {
      if ((flags & BUCKET_LEAF) === 0) return this.problem(`root bucket: key ${printable(key)} is not a bucket`);
      this.hashValue = crc32c(key, this.hashValue);
      const name = key.toString('latin1');
      await this.walkBucket(value, name, async (k, v) => {
        this.hashValue = crc32c(k, this.hashValue);
        if (v.length > 0) this.hashValue = crc32c(v, this.hashValue);
        this.totalKey += 1;
        if (name === 'key' && k.length >= 8) this.revision = Number(k.readBigUInt64BE(0));
      });
    });
  }

  private async walkBucket(header: Buffer, name: string, visit: (key: Buffer, value: Buffer) => Promise<void>): Promise<void> {
    if (header.length < 16) return this.problem(`bucket ${name}: header of ${header.length} bytes`);
    const root = header.readBigUInt64LE(0);
    const onEntry = async (key: Buffer, value: Buffer, flags: number): Promise<void> => {
      // A nested bucket reads as a key without a value (etcd has none).
      await visit(key, (flags & BUCKET_LEAF) !== 0 ? Buffer.alloc(0) : value);
    };
    if (root !== 0n) return this.walkTree(root, `bucket ${name}`, onEntry);
    // Inline bucket: a leaf page stored in the value, after the header; no page of the file is used.
    const inline = header.subarray(16);
    if (inline.length < PAGE_HEADER) return this.problem(`bucket ${name}: inline page of ${inline.length} bytes`);
    await this.walkLeaf({ id: 0n, flags: inline.readUInt16LE(8), count: inline.readUInt16LE(10), overflow: 0, buf: inline }, `bucket ${name} (inline)`, onEntry);
  }

  /** Depth-first, in key order; records every page it reaches (bbolt's checkBucket). */
  private async walkTree(id: bigint, where: string, onEntry: (key: Buffer, value: Buffer, flags: number) => Promise<void>): Promise<void> {
    let p: Page;
    try {
      p = await this.page(id);
    } catch (err) {
      if (err instanceof BoltFormatError) return this.problem(`${where}: ${err.message}`);
      throw err;
    }
    if (p.id !== id) return this.problem(`page ${id}: its header says it is page ${p.id}`);
    for (let i = 0n; i <= BigInt(p.overflow); i++) {
      if (this.reachable.has(id + i)) this.problem(`page ${id + i}: multiple references`);
      this.reachable.add(id + i);
    }
    if (this.freed.has(id)) this.problem(`page ${id}: reachable freed`);
    if (p.flags & BRANCH) {
      if (p.count * ELEMENT + PAGE_HEADER > p.buf.length) return this.problem(`page ${id}: ${p.count} branch elements do not fit`);
      let previous: Buffer | undefined;
      for (let i = 0; i < p.count; i++) {
        const el = PAGE_HEADER + i * ELEMENT;
        const pos = p.buf.readUInt32LE(el);
        const ksize = p.buf.readUInt32LE(el + 4);
        if (el + pos + ksize > p.buf.length) return this.problem(`page ${id}: branch element ${i} points outside the page`);
        const key = p.buf.subarray(el + pos, el + pos + ksize);
        if (previous && Buffer.compare(previous, key) >= 0) this.problem(`page ${id}: branch keys out of order`);
        previous = key;
        await this.walkTree(p.buf.readBigUInt64LE(el + 8), where, onEntry);
      }
    } else if (p.flags & LEAF) {
      await this.walkLeaf(p, where, onEntry);
    } else {
      this.problem(`page ${id}: invalid type for ${where}: flags ${p.flags}`);
    }
  }

  private async walkLeaf(p: Page, where: string, onEntry: (key: Buffer, value: Buffer, flags: number) => Promise<void>): Promise<void> {
    if ((p.flags & LEAF) === 0) return this.problem(`${where}: page ${p.id} is not a leaf (flags ${p.flags})`);
    if (p.count * ELEMENT + PAGE_HEADER > p.buf.length) return this.problem(`${where}: ${p.count} leaf elements do not fit page ${p.id}`);
    let previous: Buffer | undefined;
    for (let i = 0; i < p.count; i++) {
      const el = PAGE_HEADER + i * ELEMENT;
      const flags = p.buf.readUInt32LE(el);
      const pos = p.buf.readUInt32LE(el + 4);
      const ksize = p.buf.readUInt32LE(el + 8);
      const vsize = p.buf.readUInt32LE(el + 12);
      const start = el + pos;
      if (start + ksize + vsize > p.buf.length) return this.problem(`${where}: page ${p.id} element ${i} points outside the page`);
      const key = p.buf.subarray(start, start + ksize);
      if (previous && Buffer.compare(previous, key) >= 0) this.problem(`${where}: page ${p.id} keys out of order`);
      previous = key;
      await onEntry(key, p.buf.subarray(start + ksize, start + ksize + vsize), flags);
    }
  }
}

const CASTAGNOLI = ((): Uint32Array => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C, continued from `previous` (Go's hash/crc32 with the Castagnoli table). */
export function crc32c(data: Uint8Array, previous = 0): number {
  let c = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) c = (CASTAGNOLI[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)) >>> 0;
  return ~c >>> 0;
}

/** FNV-1a, 64 bits (bbolt's meta checksum). */
function fnv64a(data: Buffer): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of data) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}

function printable(key: Buffer): string {
  return JSON.stringify(key.toString('latin1').slice(0, 40));
}
