// Placeholder owned by the agent core; replaced by the status client.
export async function statusCommand(_args: string[]): Promise<number> {
  process.stderr.write('etcd-agent status: not implemented yet\n');
  return 1;
}
