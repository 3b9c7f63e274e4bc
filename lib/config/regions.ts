/**
 * Regions and locations checked against the clouds' published lists, not only their shape.
 *
 * - AWS: the AWS SDK's partition table (`@aws-sdk/core` `partition()`, generated from the SDK's
 *   partitions.json): a region it lists has a `description`; one that only matches a partition's
 *   pattern (a made-up `us-east-9`) does not. `*-global` entries are pseudo-regions.
 * - Google: no client library ships a list. The provider's data sources ask the APIs
 *   (`gcp.cloudrun.getLocations`, `gcp.artifactregistry.getLocations`, which
 *   terraform-provider-google's data_source_artifact_registry_locations.go answers from
 *   `GET /v1/projects/{project}/locations`), so the program asks them in preview and update alike,
 *   before it registers anything (program.ts `checkLocations`).
 */
import { partition } from "@aws-sdk/core/client";
import { closest } from "fastest-levenshtein";
import { describeValue } from "../errors";

/** The `@aws-sdk/core` whose partition table is the list. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const AWS_SDK_CORE_VERSION = (require("@aws-sdk/core/package.json") as { version: string }).version;

/** Whether the AWS SDK's partition table lists `region` (in any partition). */
export function isPublishedAwsRegion(region: string): boolean {
  if (region.endsWith("-global")) return false;
  return (partition(region) as { description?: string }).description !== undefined;
}

/** What the Google location APIs answered for the stack's project. */
export interface GoogleLocations {
  cloudRun: readonly string[];
  artifactRegistry: readonly string[];
}

/**
 * Problems with the stack's Google region and repository location, each naming the file and key.
 * `artifactRegistryFromRegion` says the location is `gcp:region`'s (no key of its own).
 */
export function googleLocationProblems(
  file: string,
  gcp: { project: string; region: string; artifactRegistry: { location: string } },
  artifactRegistryFromRegion: boolean,
  known: GoogleLocations,
): string[] {
  const problems: string[] = [];
  const check = (key: string, value: string, list: readonly string[], what: string) => {
    if (list.length === 0 || list.includes(value)) return;
    problems.push(
      `${file}: ${key}: ${describeValue(value)} is not ${what} of project ${gcp.project} ` +
        `(the API lists ${list.length}); did you mean "${closest(value, [...list])}"?`,
    );
  };
  check("gcp:region", gcp.region, known.cloudRun, "a Cloud Run region");
  if (!artifactRegistryFromRegion || known.cloudRun.includes(gcp.region)) {
    check(
      artifactRegistryFromRegion ? "gcp:region" : "multicloud-deploy:artifactRegistry.location",
      gcp.artifactRegistry.location,
      known.artifactRegistry,
      "an Artifact Registry location",
    );
  }
  return problems;
}
