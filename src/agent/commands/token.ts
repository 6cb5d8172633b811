import { generateToken } from '../../pki/token.js';
import { parseCommandArgs, usageError, type CliIo } from './args.js';

/** `etcd-agent token generate`: prints a new join token (256 random bits) on stdout, nothing else. */
export async function tokenCommand(args: string[], io: CliIo): Promise<number> {
  const { positionals } = parseCommandArgs('token', args, {}, 1);
  const sub = positionals[0];
  if (sub !== 'generate') {
    throw usageError(
      sub === undefined
        ? 'missing subcommand: use `etcd-agent token generate`; see `etcd-agent token --help`'
        : `unknown subcommand \`token ${sub}\`; the only one is \`etcd-agent token generate\` (see \`etcd-agent token --help\`)`,
    );
  }
  io.stdout.write(`${generateToken()}\n`);
  return 0;
}
