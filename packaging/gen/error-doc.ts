import { DEFAULT_EXIT_CODE, ERROR_CATALOGUE, type ErrorEntry } from '../../src/util/error-catalogue.js';

/**
 * docs/errors.md, rendered from the error catalogue (src/util/error-catalogue.ts)
 * so the page lists exactly the codes the agent can report. `npm run gen:errors`
 * writes it; test/unit/error-catalogue.test.ts fails when the committed page
 * differs from this rendering. Only the framing (intro, section titles) is
 * written here.
 */

export interface ErrorDocSection {
  title: string;
  /** A code belongs to the first section one of whose prefixes it starts with. */
  prefixes: readonly string[];
  /** A paragraph under the title, for what holds for every code of the section. */
  intro?: string;
}

/** Sections of the page, in order. */
export const ERROR_DOC_SECTIONS: readonly ErrorDocSection[] = [
  { title: 'Command line', prefixes: ['EA_CLI_', 'EA_STATUS_', 'EA_ADMIN_'] },
  { title: 'Configuration', prefixes: ['EA_CONFIG_', 'EA_NOT_CONFIGURED'] },
  {
    title: 'Peer API (between agents)',
    prefixes: ['EA_PEER_'],
    intro:
      'Codes with an HTTP status are what this agent answers another agent; the others are what it reports about an\n' +
      'answer it got (in the log and in `/status`, next to the peer).',
  },
  { title: 'Bootstrap: enrollment and agent state', prefixes: ['EA_CA_', 'EA_ENROLL_', 'EA_STATE_'] },
  {
    title: 'Certificates (PKI)',
    prefixes: ['EA_PKI_'],
    intro:
      'When the CA holder refuses to sign an enrollment for one of these reasons, it answers the caller with HTTP 403\n' +
      'and lists the caller among the refused peers in its `/status`.',
  },
  { title: 'Renewal and client certificates', prefixes: ['EA_CERT_'] },
  { title: 'etcd', prefixes: ['EA_ETCD_'] },
  {
    title: 'Membership: joining and resizing',
    prefixes: ['EA_JOIN_', 'EA_RESIZE_', 'EA_MEMBERSHIP_'],
    intro: 'See the README, "Joining, spares and resizing", for how joiners are admitted and what `cluster resize` allows.',
  },
  {
    title: 'Snapshots and restore',
    prefixes: ['EA_SNAPSHOT_', 'EA_RESTORE_'],
    intro: 'See docs/disaster-recovery.md for when and how to restore, step by step.',
  },
  {
    title: 'Writing files',
    prefixes: ['EA_DISK_', 'EA_FILE_'],
    intro:
      'Every file the agent writes goes to a temp file in the same directory that is then renamed into place, so a\n' +
      'failed write never leaves a half-written file. A snapshot that cannot be written reports `EA_SNAPSHOT_FAILED`,\n' +
      'naming the snapshots dir.',
  },
  { title: 'Running etcd (systemd or a child process)', prefixes: ['EA_SVC_'] },
  {
    title: 'Discovery (mDNS)',
    prefixes: ['EA_MDNS_'],
    intro:
      'mDNS problems never stop the agent, since seeds may still work: they show in `/status` under\n' +
      '`discovery.problems` and in the reason the agent gives while it waits for peers.',
  },
];

const HEADER = `# Error codes

<!-- Generated from src/util/error-catalogue.ts by \`npm run gen:errors\`; do not edit by hand. -->

Every error etcd-agent reports carries a stable code: on the command line
(\`etcd-agent: …\` on stderr), in the log, in \`/status\` (the phase reason,
discovery problems, peers not trusted or refused) and in the peer API's JSON
answers (\`{"code": …, "message": …}\`). The message itself names what is
wrong (the key, the file, the peer); this page says what each code means and
what to do about it.

A command that an error ends exits with code ${DEFAULT_EXIT_CODE} unless the code's entry gives
another exit code. An HTTP status is given for the codes the peer API answers
other agents with.
`;

function sectionOf(code: string): string {
  const section = ERROR_DOC_SECTIONS.find((s) => s.prefixes.some((p) => code.startsWith(p)));
  if (section === undefined) {
    throw new Error(`error doc: code ${code} fits no section of packaging/gen/error-doc.ts; add its prefix to ERROR_DOC_SECTIONS`);
  }
  return section.title;
}

function entryLines(code: string, entry: ErrorEntry): string[] {
  const lines = [`### \`${code}\``, '', `- **Meaning:** ${entry.meaning}`, `- **What to do:** ${entry.action}`];
  if (entry.http !== undefined) lines.push(`- **HTTP status:** ${entry.http}`);
  if (entry.exit !== undefined) lines.push(`- **Exit code:** ${entry.exit}`);
  return [...lines, ''];
}

/** The page for `catalogue` (the agent's by default): sections in ERROR_DOC_SECTIONS order, codes sorted within each. */
export function renderErrorDoc(catalogue: Readonly<Record<string, ErrorEntry>> = ERROR_CATALOGUE): string {
  const codes = Object.keys(catalogue).sort();
  const bySection = new Map<string, string[]>();
  for (const code of codes) {
    const title = sectionOf(code);
    bySection.set(title, [...(bySection.get(title) ?? []), code]);
  }
  const out = [HEADER];
  for (const { title, intro } of ERROR_DOC_SECTIONS) {
    const inSection = bySection.get(title);
    if (inSection === undefined) continue;
    out.push(`## ${title}`, '');
    if (intro !== undefined) out.push(intro, '');
    for (const code of inSection) out.push(...entryLines(code, catalogue[code]!));
  }
  return `${out.join('\n').trimEnd()}\n`;
}
