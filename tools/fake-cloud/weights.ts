/**
 * Splitting users' requests by shares, the same way every time: smooth weighted round-robin (nginx's
 * `ngx_http_upstream_get_peer`), so 20% means exactly one request in five, in order. The clouds pick at
 * random ("Cloud Run splits traffic between revisions" by percent; a Lambda alias "routes traffic
 * to the two versions based on the weights"); an exact split keeps a suite's counts the same on each run.
 */
export class WeightedPicker {
  private current = new Map<string, Map<string, number>>();

  /** The target of the next request to `key` (a service, an alias), by `weights`; undefined with none. */
  pick(key: string, weights: Record<string, number>): string | undefined {
    const entries = Object.entries(weights).filter(([, w]) => w > 0);
    if (entries.length === 0) return undefined;
    const state = this.current.get(key) ?? new Map<string, number>();
    this.current.set(key, state);
    // Targets no longer weighted start afresh.
    for (const k of state.keys()) if (!(k in weights)) state.delete(k);
    const total = entries.reduce((n, [, w]) => n + w, 0);
    let best: string | undefined;
    for (const [target, w] of entries) {
      state.set(target, (state.get(target) ?? 0) + w);
      if (best === undefined || state.get(target)! > state.get(best)!) best = target;
    }
    state.set(best!, state.get(best!)! - total);
    return best;
  }
}
