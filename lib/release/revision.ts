/**
 * Which revision name a Cloud Run release asks for, given what the service's live state says about
 * the one the stack asked for last (pure; the component reads that state through the provider's
 * `gcp.cloudrunv2.getService` data source before registering the service).
 *
 * A release's revision is `<service>-<release 7>-<template hash 5>` (lib/names.ts
 * cloudRunRevisionName). That name can be asked for again only when the revision it names can serve:
 * - Cloud Run keeps one configuration per name: "Revision named '…' with different configuration
 *   already exists" (409, terraform-provider-google #9438, #14569), so a ready revision of that name is
 *   this template, and asking for it again creates nothing and releases it.
 *   A revision is known ready when it is the newest ready one or has a share of traffic; one that is
 *   ready but neither (a stack gone back to it before its traffic moved) gets a fresh name too: an
 *   identical revision, which is harmless.
 * - A revision that did not become ready (it failed to start, e.g. a secret grant still applying) is
 *   not re-created under its name: `RevisionTemplate.revision` is "the unique name for the revision"
 *   (google/cloud/run/v2/revision_template.proto), and an update whose template is unchanged makes no
 *   revision. Whether Cloud Run ever retries it is not documented; the safe side is a fresh name:
 *   `<base>-2`, `<base>-3`, … (at most 63 characters: names are 56 at most, lib/names.ts).
 *
 * So a re-run at the same commit after a failed start releases a fresh revision, and a re-run after
 * a success (or a stack going back to a configuration whose revision served) names the ready one.
 * Only the last asked-for revision is known here: a stack going back to a configuration whose first
 * revision failed before another release went out asks for that name again, fails once, and the
 * re-run after that is fresh (docs/safe-release.md says so).
 */
import { cloudRunRevisionShortName } from "../names";

/** What the service's live state says, by short revision names. */
export interface LiveRevisions {
  /** `template.revision`: the name the service's last update asked for. */
  asked?: string;
  /** `latestReadyRevision`: the newest revision that became ready. */
  latestReady?: string;
  /**
   * Revisions with a share of traffic (`trafficStatuses`): ready ones, as Cloud Run refuses traffic to
   * one that is not ("Revision '…' is not ready and cannot serve traffic"). A stack gone back to an
   * older revision asks for a ready one that is not the newest ready.
   */
  serving?: string[];
}

export interface RevisionChoice {
  name: string;
  /** Why the name is not the base name, for the update's log. */
  note?: string;
}

/** The attempt a name is of `base` (1 for the base itself), or undefined for another release's name. */
export function revisionAttempt(base: string, name: string | undefined): number | undefined {
  if (name === base) return 1;
  if (name === undefined || !name.startsWith(`${base}-`)) return undefined;
  const rest = name.slice(base.length + 1);
  return /^[1-9]\d{0,5}$/.test(rest) ? Number(rest) : undefined;
}

/** The revision name to ask for: see the file comment. `live` is undefined for a service not made yet. */
export function chooseRevision(base: string, live: LiveRevisions | undefined): RevisionChoice {
  const attempt = revisionAttempt(base, live?.asked);
  const ready = live?.asked === live?.latestReady || (live?.serving ?? []).includes(live!.asked!);
  if (attempt === undefined || ready) {
    return { name: attempt === undefined ? base : live!.asked! };
  }
  const name = `${base}-${attempt + 1}`;
  return {
    name,
    note:
      `revision ${live!.asked} did not become ready (the newest ready one is ${live!.latestReady || "none"}) ` +
      `and Cloud Run does not make a revision twice under one name: this release makes ${name}`,
  };
}

/** The slice of the `gcp.cloudrunv2.getService` result the choice reads (full revision names). */
export interface ServiceRevisionFields {
  templates?: Array<{ revision?: string }>;
  latestReadyRevision?: string;
  trafficStatuses?: Array<{ revision?: string; percent?: number }>;
}

/** Short names from the data source's answer; empty strings (nothing ready yet) become undefined. */
export function liveRevisionsOf(s: ServiceRevisionFields): LiveRevisions {
  const short = (n: string | undefined) => (n ? cloudRunRevisionShortName(n) : undefined);
  return {
    asked: short(s.templates?.[0]?.revision),
    latestReady: short(s.latestReadyRevision),
    serving: (s.trafficStatuses ?? [])
      .filter((t) => (t.percent ?? 0) > 0 && t.revision)
      .map((t) => short(t.revision)!),
  };
}
