/**
 * The CPU and memory combinations Cloud Run accepts (Cloud Run docs, "Configure memory limits for
 * instances": 1 vCPU 128 MiB to 4 GiB, 2 vCPU 128 MiB to 8 GiB, 4 vCPU 2 to 16 GiB, 6 vCPU 4 to 24
 * GiB, 8 vCPU 4 to 32 GiB; 32 GiB at most). Checked in config validation, so a combination Cloud Run
 * would refuse fails before anything is registered.
 */
export const MEMORY_RANGE_MIB: Record<string, readonly [number, number]> = {
  "1": [128, 4 * 1024],
  "2": [128, 8 * 1024],
  "4": [2 * 1024, 16 * 1024],
  "6": [4 * 1024, 24 * 1024],
  "8": [4 * 1024, 32 * 1024],
};

/** `512Mi` → 512, `2Gi` → 2048. */
export function memoryMiB(quantity: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (!m) throw new Error(`expected a memory quantity like "512Mi", got ${JSON.stringify(quantity)}`);
  return Number(m[1]) * (m[2] === "Gi" ? 1024 : 1);
}

const show = (mib: number) => (mib % 1024 === 0 ? `${mib / 1024}Gi` : `${mib}Mi`);

/** Why Cloud Run would refuse this CPU and memory, or undefined. */
export function cloudRunResourceProblem(cpu: string, memory: string): string | undefined {
  const range = MEMORY_RANGE_MIB[cpu];
  if (!range) return undefined; // the schema refuses other CPU values
  const mib = memoryMiB(memory);
  const [lo, hi] = range;
  if (mib >= lo && mib <= hi) return undefined;
  const fits = Object.entries(MEMORY_RANGE_MIB)
    .filter(([, [l, h]]) => mib >= l && mib <= h)
    .map(([c]) => `"${c}"`);
  return (
    `Cloud Run gives ${cpu} CPU between ${show(lo)} and ${show(hi)} of memory, got ${JSON.stringify(memory)}; ` +
    (fits.length > 0
      ? `set memory between ${show(lo)} and ${show(hi)}, or cpu to ${fits.join(" or ")}`
      : `set memory between ${show(lo)} and ${show(hi)} (Cloud Run allows 128Mi to 32Gi)`)
  );
}
