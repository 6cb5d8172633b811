// Placeholder owned by the agent core; replaced by the daemon entry point.
export async function runCommand(_args: string[]): Promise<number> {
  process.stderr.write('etcd-agent run: not implemented yet\n');
  return 1;
}
