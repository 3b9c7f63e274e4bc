/**
 * Frees the read buffers a streamed copy leaves behind, as it goes (issue 25, peak RSS beside
 * skopeo). Every socket read lands in a buffer of its own (Node's `StreamBase` allocates one per
 * read, and TLS decrypts into another), which V8 frees only when it next collects. A copy moving
 * 100 MiB/s outran the collector: sampling `process.memoryUsage().arrayBuffers` during a 1 GiB copy
 * found about 42 MiB of them alive at the peak, where skopeo's Go `io.Copy` reuses one buffer. A
 * young-generation collection every few MiB frees them while they are young (bench/README.md
 * "Promotion memory" has the figures, with and without).
 *
 * The collector is reached the way `node --expose-gc` reaches it: the flag is set at run time
 * (`v8.setFlagsFromString`) and takes effect for contexts created after it, so a new context's
 * `gc` is the isolate's collector (V8's GCExtension, `gc({ type: "minor" })`). The CLIs run with no
 * Node flags on their command line, which is part of every stack's plan. Should a Node release stop
 * honouring the flag at run time, the copy goes on without the collections (one warning): they save
 * memory, and a promotion never fails for want of them.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** V8's GCExtension, as `--expose-gc` installs it. */
export type Collect = (options: { type: "minor" | "major" }) => void;

let collect: Collect | null | undefined;

/** The isolate's collector, or null (with one warning) where this Node does not give it. */
export function collector(): Collect | null {
  if (collect !== undefined) return collect;
  const exposed = (globalThis as { gc?: Collect }).gc;
  if (typeof exposed === "function") return (collect = exposed);
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as unknown;
    if (typeof gc !== "function") throw new Error(`gc is ${typeof gc}`);
    collect = gc as Collect;
  } catch (err) {
    collect = null;
    process.emitWarning(
      `the copy runs without freeing its read buffers as it goes (${err instanceof Error ? err.message : String(err)}); it needs more memory, nothing else changes`,
    );
  }
  return collect;
}

/**
 * A counter of bytes read that runs a young-generation collection each time another `everyBytes`
 * have been read. `everyBytes` 0 never collects.
 */
export function reclaimer(
  everyBytes: number,
  gc: Collect | null = everyBytes > 0 ? collector() : null,
): (bytes: number) => void {
  if (everyBytes <= 0 || gc === null) return () => undefined;
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < everyBytes) return;
    since %= everyBytes;
    gc({ type: "minor" });
  };
}
