import { resolve } from 'node:path';
import { consumerNameProblem, MIN_LEAF_VALIDITY_MS } from '../../pki/index.js';
import { DURATION_HELP, formatDuration, parseDuration } from '../../util/duration.js';
import { issueClientCertificate } from '../certs/issue-client.js';
import { loadConfig, type LoadConfigOptions } from '../config/index.js';
import { parseCommandArgs, usageError, type CliIo } from './args.js';

export const CERT_USAGE = `usage: etcd-agent cert issue --name NAME --out DIR [--validity D] [--new-key] [--config PATH] [--root DIR]

Makes a client certificate for a consumer of the cluster (kube-apiserver,
Patroni, your own service). Run it as root on a member: the key is made here
and never leaves this host; the request goes to the CA holder over mutual TLS
with this member's certificate (only members may ask). DIR receives:

  NAME.key   the private key (mode 0600)
  NAME.crt   the certificate: CN=NAME, clientAuth only, no SANs, not a CA
  ca.crt     the cluster CA, to verify etcd's server certificates
  NAME.env   ETCDCTL_* settings (set -a; . DIR/NAME.env; set +a; etcdctl get foo)

Running it again with the same NAME and DIR renews the certificate, keeping
the key (use --new-key for a new one). See docs/client-certificates.md.

  --name NAME     the certificate's CN and the files' name: letters, digits, ".",
                  "_" and "-", starting with a letter or digit, at most 64
                  characters; not the name of a cluster member (etcd takes the
                  CN as the user name)
  --out DIR       where to write (created when missing)
  --validity D    lifetime, a duration such as 90d or 12h (default: the
                  cluster's pki.certValidity; at least 2m, at most 3650d)
  --new-key       make a new key even when DIR/NAME.key exists
  --config PATH   this member's agent config (default /etc/etcd-agent/config.yaml,
                  or $ETCD_AGENT_CONFIG)
  --root DIR      the member lives under DIR (as with \`etcd-agent init --root\`)
`;

const MAX_VALIDITY_MS = 3650 * 86_400_000;

/** `etcd-agent cert issue ...` */
export async function certCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'issue') {
    throw usageError(sub === undefined ? 'cert needs a subcommand: `etcd-agent cert issue --name NAME --out DIR`' : `unknown subcommand "cert ${sub}"; see \`etcd-agent cert --help\``);
  }
  const { values } = parseCommandArgs('cert issue', rest, {
    name: { type: 'string' },
    out: { type: 'string' },
    validity: { type: 'string' },
    'new-key': { type: 'boolean' },
    config: { type: 'string' },
    root: { type: 'string' },
  });
  const name = values.name;
  if (name === undefined) throw usageError('cert issue needs --name NAME (the client certificate\'s CN); see `etcd-agent cert --help`');
  const nameProblem = consumerNameProblem(name);
  if (nameProblem) throw usageError(`--name ${JSON.stringify(name)} cannot be used: ${nameProblem}`);
  if (values.out === undefined || values.out === '') throw usageError('cert issue needs --out DIR (where the key and certificate go); see `etcd-agent cert --help`');

  const options: LoadConfigOptions = { env: io.env };
  if (values.config !== undefined) options.path = resolve(io.cwd, values.config);
  if (values.root !== undefined) options.root = resolve(io.cwd, values.root);
  const config = await loadConfig(options);

  let validityMs = config.pki.certValidityMs;
  if (values.validity !== undefined) {
    const parsed = parseDuration(values.validity);
    if (parsed === undefined) throw usageError(`--validity ${JSON.stringify(values.validity)} is not ${DURATION_HELP}`);
    if (parsed < MIN_LEAF_VALIDITY_MS || parsed > MAX_VALIDITY_MS) {
      throw usageError(`--validity ${values.validity} is out of range; allowed: ${formatDuration(MIN_LEAF_VALIDITY_MS)} to 3650d`);
    }
    validityMs = parsed;
  }

  const issued = await issueClientCertificate({ config, name, outDir: resolve(io.cwd, values.out), validityMs, newKey: values['new-key'] === true });
  io.stdout.write(
    [
      `client certificate "${name}" signed by the CA holder ${issued.signedBy}, serial ${issued.serialNumber}, valid until ${issued.notAfter.toISOString()}`,
      `  key          ${issued.keyFile}${issued.keyReused ? ' (kept)' : ' (new)'}`,
      `  certificate  ${issued.certFile}`,
      `  CA           ${issued.caFile}`,
      `  etcdctl env  ${issued.envFile}`,
      '',
      'kube-apiserver:',
      `  --etcd-servers=${issued.endpoints.join(',')}`,
      `  --etcd-cafile=${issued.caFile} --etcd-certfile=${issued.certFile} --etcd-keyfile=${issued.keyFile}`,
      '',
      `Renew before ${issued.notAfter.toISOString()} by running the same command again.`,
      '',
    ].join('\n'),
  );
  return 0;
}
