/**
 * Frees the read buffers a streamed copy leaves behind, as it goes (issue 25, peak RSS beside
 * skopeo). Every socket read lands in a buffer of its own (Node's `StreamBase` allocates one per
 * read, and TLS decrypts into another), which V8 frees only when it next collects. A copy moving
 * 100 MiB/s outruns the collector: for a 1 GiB layer about 42 MiB of dead read buffers were alive
 * at the peak (`process.memoryUsage().arrayBuffers`), where skopeo's Go `io.Copy` reuses one
 * buffer. A young-generation collection every few MiB frees them while they are young, at a cost
 * below a millisecond each (bench/README.md "Beside skopeo" has the numbers).
 *
 * The collector is reached the way `node --expose-gc` reaches it: the flag is set at run time
 * (`v8.setFlagsFromString`) and takes effect for contexts created after it, so a new context's
 * `gc` is the isolate's collector (V8's GCExtension, `gc({ type: "minor" })`). The CLIs run with no
 * Node flags on their command line, which is part of every stack's plan.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

type Collect = (options: { type: "minor" | "major"; execution?: "sync" | "async" }) => void;

let collect: Collect | undefined;

function collector(): Collect {
  if (!collect) {
    setFlagsFromString("--expose-gc");
    collect = runInNewContext("gc") as Collect;
  }
  return collect;
}

/**
 * A counter of bytes read that runs a young-generation collection after every `everyBytes`.
 * `everyBytes` 0 never collects.
 */
export function reclaimer(everyBytes: number): (bytes: number) => void {
  if (everyBytes <= 0) return () => undefined;
  const gc = collector();
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < everyBytes) return;
    since = 0;
    gc({ type: "minor" });
  };
}
