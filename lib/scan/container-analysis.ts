/**
 * Artifact Registry's scan of one digest, through Container Analysis (REST v1
 * `projects.occurrences.list`, googleapis grafeas/v1/grafeas.proto; the occurrence kinds in
 * common.proto, discovery.proto, vulnerability.proto, severity.proto):
 *
 * - The image is its `resourceUrl`, `https://<host>/<project>/<repository>/<image>@sha256:…` ("The
 *   https:// must be included": Artifact Analysis, "Investigate vulnerabilities").
 * - First the `DISCOVERY` occurrence: `discovery.analysisStatus` PENDING or SCANNING is pending,
 *   FINISHED_SUCCESS (or its alias COMPLETE, `allow_alias` in discovery.proto; protobuf's JSON
 *   printer writes the first-declared name, FINISHED_SUCCESS, descriptor.h `FindValueByNumber`, but
 *   both are read) is done, FINISHED_FAILED is failed (with
 *   `analysisStatusError.message`), FINISHED_UNSUPPORTED is unsupported ("The resource is known not
 *   to be supported"). No DISCOVERY occurrence: missing. This is Google's own polling sample
 *   (python-docs-samples containeranalysis/snippets/poll_discovery_finished.py).
 * - Then the `VULNERABILITY` occurrences, every page (`pageSize` at most 1000, `nextPageToken` empty
 *   at the end): the id is the note's (`projects/goog-vulnz/notes/CVE-…`), the severity
 *   `vulnerability.effectiveSeverity` (the distribution's rating where it has one), else `severity`.
 */
import type { HttpClient } from "../release/cloud-run";
import { severityOf } from "./ecr";
import type { Finding, ScanState } from "./gate";

export const CONTAINER_ANALYSIS = "https://containeranalysis.googleapis.com";
const REQUEST_TIMEOUT_MS = 30_000;

interface Occurrence {
  noteName?: string;
  kind?: string;
  discovery?: { analysisStatus?: string; analysisStatusError?: { message?: string } };
  vulnerability?: {
    severity?: string;
    effectiveSeverity?: string;
    packageIssue?: { affectedPackage?: string; affectedVersion?: { name?: string } }[];
  };
}

export interface ArtifactRegistryImage {
  /** The project whose occurrences are read (the repository's). */
  project: string;
  /** `host/project/repository/image`. */
  reference: string;
  digest: string;
}

/**
 * Every occurrence of one kind about one resource (`projects.occurrences.list`, every page: `pageSize`
 * at most 1000, `nextPageToken` empty at the end). The scan reads DISCOVERY and VULNERABILITY ones;
 * lib/binauthz/attest.ts its ATTESTATION ones.
 */
export async function listOccurrences<T>(
  http: HttpClient,
  o: { project: string; kind: string; resourceUrl: string; endpoint?: string },
): Promise<T[]> {
  const all: T[] = [];
  let pageToken = "";
  do {
    const q = new URLSearchParams({
      filter: `kind="${o.kind}" AND resourceUrl="${o.resourceUrl}"`,
      pageSize: "1000",
    });
    if (pageToken) q.set("pageToken", pageToken);
    const { data } = await http.request<{ occurrences?: T[]; nextPageToken?: string }>({
      url: `${o.endpoint ?? CONTAINER_ANALYSIS}/v1/projects/${o.project}/occurrences?${q}`,
      timeout: REQUEST_TIMEOUT_MS,
    });
    all.push(...(data.occurrences ?? []));
    pageToken = data.nextPageToken ?? "";
  } while (pageToken);
  return all;
}

/** The scan of `image` now. HTTP errors propagate. */
export async function readContainerAnalysisScan(
  http: HttpClient,
  image: ArtifactRegistryImage,
  endpoint = CONTAINER_ANALYSIS,
): Promise<ScanState> {
  const resourceUrl = `https://${image.reference}@${image.digest}`;
  const list = (kind: string) =>
    listOccurrences<Occurrence>(http, { project: image.project, kind, resourceUrl, endpoint });
  const discovery = (await list("DISCOVERY"))[0]?.discovery;
  if (!discovery)
    return { status: "missing", detail: `Container Analysis has no discovery of ${resourceUrl}` };
  const status = discovery.analysisStatus ?? "ANALYSIS_STATUS_UNSPECIFIED";
  if (status === "FINISHED_UNSUPPORTED")
    return { status: "unsupported", detail: `Container Analysis: ${status}` };
  if (status === "FINISHED_FAILED")
    return {
      status: "failed",
      detail: `Container Analysis: ${status}${discovery.analysisStatusError?.message ? `: ${discovery.analysisStatusError.message}` : ""}`,
    };
  if (status !== "FINISHED_SUCCESS" && status !== "COMPLETE")
    return { status: "pending", detail: `Container Analysis: ${status}` };
  const findings: Finding[] = (await list("VULNERABILITY")).map((o) => {
    const issue = o.vulnerability?.packageIssue?.[0];
    return {
      id: o.noteName?.split("/").pop() ?? "(no note)",
      severity: severityOf(o.vulnerability?.effectiveSeverity ?? o.vulnerability?.severity),
      package:
        issue?.affectedPackage && `${issue.affectedPackage} ${issue.affectedVersion?.name ?? ""}`.trim(),
    };
  });
  return { status: "complete", findings };
}
