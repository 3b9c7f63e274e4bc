/**
 * The scan of one digest by the registry that holds it, with the deployer's ambient identity (the AWS
 * SDK's default chain; Application Default Credentials), each cloud's SDK loaded only when used: what
 * the scan gate step and the release step read.
 */
import type { HttpClient } from "../release/cloud-run";
import { readContainerAnalysisScan } from "./container-analysis";
import { readEcrScan } from "./ecr";
import type { ScanState } from "./gate";
import type { ScannedBy } from "./step";

/** A reader of one digest's scan, by the registry's own API. */
export async function scanReader(by: ScannedBy, digest: string): Promise<() => Promise<ScanState>> {
  if (by.registry === "ecr") {
    const { ECRClient } = await import("@aws-sdk/client-ecr");
    const client = new ECRClient({ region: by.region });
    return () =>
      readEcrScan(client, { registryId: by.registryId, repositoryName: by.repositoryName, digest });
  }
  const { GoogleAuth } = await import("google-auth-library");
  const http = (await new GoogleAuth({
    scopes: ["https://www.googleapis.com/auth/cloud-platform"],
  }).getClient()) as unknown as HttpClient;
  return () => readContainerAnalysisScan(http, { project: by.project, reference: by.reference, digest });
}
