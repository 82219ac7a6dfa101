/** `tsbpf check` — not implemented yet (placeholder so the CLI dispatches). */
export async function run(_args: string[]): Promise<number> {
  process.stderr.write("tsbpf check: not implemented yet\n");
  return 2;
}
