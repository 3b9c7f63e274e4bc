/**
 * A Cloud Run revision's own traffic, read from Cloud Monitoring (analysis.ts judges it). Each call and
 * field is the documented API's (googleapis google/monitoring/v3/metric_service.proto
 * `ListTimeSeriesRequest`, common.proto `Aggregation`; the metric list at
 * cloud.google.com/monitoring/api/metrics_gcp_p_z, section `run`):
 *
 * - `GET https://monitoring.googleapis.com/v3/projects/<p>/timeSeries` with `filter` (exactly one
 *   metric type), `interval.startTime`/`endTime` (RFC 3339), `aggregation.*` and `pageToken`; it answers
 *   `{ timeSeries[], nextPageToken }`, each series `{ metric.labels, points[] }` and each point's `value`
 *   an `int64Value` (a string: proto3 JSON writes int64 as one) or a `doubleValue`.
 * - `run.googleapis.com/request_count` (DELTA, INT64), labelled `response_code_class` (`2xx` … `5xx`),
 *   on the `cloud_run_revision` resource (labels `service_name`, `revision_name`, `location`): summed
 *   per class with `ALIGN_DELTA` + `REDUCE_SUM` grouped by `metric.label.response_code_class`.
 *   "Requests that are not reaching your container instances" are not counted; requests to the
 *   revision's tag URL are (its `route` label is "Always empty"), so the gate's own /health requests
 *   are in the count too.
 * - `run.googleapis.com/request_latencies` (DELTA, DISTRIBUTION, ms): "from when the request reaches
 *   the running container to when it exits", without container startup; its 99th percentile across
 *   the window with `ALIGN_DELTA` + `REDUCE_PERCENTILE_99` (a DOUBLE).
 * - `alignmentPeriod` must be at least 60 s with an aligner (common.proto: "The value must be at least
 *   60 seconds"): the window's length rounded up, so one aligned point spans it. Both metrics are
 *   "Sampled every 60 seconds": a window shorter than a minute is judged on whole samples.
 * - Permission `monitoring.timeSeries.list` (`roles/monitoring.viewer`).
 */
import type { CanaryMetrics, MetricsReader, Window } from "./analysis";
import { CLOUD_RUN_REQUEST_TIMEOUT_MS, type HttpClient } from "./cloud-run";
import { parseCloudRunService } from "../names";

interface TimeSeriesList {
  timeSeries?: {
    metric?: { labels?: Record<string, string> };
    points?: { value?: { int64Value?: string; doubleValue?: number } }[];
  }[];
  nextPageToken?: string;
}

export interface CloudRunMetricsOptions {
  http: HttpClient;
  /** `projects/<p>/locations/<r>/services/<name>` */
  service: string;
  revision: string;
  /** @default "https://monitoring.googleapis.com" */
  endpoint?: string;
}

/** Seconds of an alignment period spanning a window: whole seconds, at least the API's 60. */
export const alignmentSeconds = (w: Window) => Math.max(60, Math.ceil((w.endMs - w.startMs) / 1000));

export function cloudRunMetrics(o: CloudRunMetricsOptions): MetricsReader {
  const parsed = parseCloudRunService(o.service);
  if (!parsed) throw new Error(`not a Cloud Run service name: ${o.service}`);
  const base = (o.endpoint ?? "https://monitoring.googleapis.com").replace(/\/$/, "");
  const resource =
    `resource.type = "cloud_run_revision" AND resource.labels.service_name = "${parsed.service}"` +
    ` AND resource.labels.location = "${parsed.location}" AND resource.labels.revision_name = "${o.revision}"`;
  /** Every page of one list call. */
  const list = async (metric: string, w: Window, aggregation: Record<string, string>) => {
    const series: NonNullable<TimeSeriesList["timeSeries"]> = [];
    let pageToken: string | undefined;
    do {
      const q = new URLSearchParams({
        filter: `metric.type = "${metric}" AND ${resource}`,
        "interval.startTime": new Date(w.startMs).toISOString(),
        "interval.endTime": new Date(w.endMs).toISOString(),
        "aggregation.alignmentPeriod": `${alignmentSeconds(w)}s`,
        "aggregation.perSeriesAligner": "ALIGN_DELTA",
        ...aggregation,
        ...(pageToken ? { pageToken } : {}),
      });
      // Retried by the release as a whole read (run.ts `analyse`): nothing is retried beneath it.
      const page = (
        await o.http.request<TimeSeriesList>({
          url: `${base}/v3/projects/${parsed.project}/timeSeries?${q}`,
          timeout: CLOUD_RUN_REQUEST_TIMEOUT_MS,
        })
      ).data;
      series.push(...(page.timeSeries ?? []));
      pageToken = page.nextPageToken || undefined;
    } while (pageToken);
    return series;
  };
  return {
    source: "Cloud Monitoring",
    async read(w: Window): Promise<CanaryMetrics> {
      const [counts, latencies] = await Promise.all([
        list("run.googleapis.com/request_count", w, {
          "aggregation.crossSeriesReducer": "REDUCE_SUM",
          "aggregation.groupByFields": "metric.label.response_code_class",
        }),
        list("run.googleapis.com/request_latencies", w, {
          "aggregation.crossSeriesReducer": "REDUCE_PERCENTILE_99",
        }),
      ]);
      let requests = 0;
      let errors = 0;
      for (const s of counts) {
        const n = (s.points ?? []).reduce((sum, p) => sum + Number(p.value?.int64Value ?? 0), 0);
        requests += n;
        if (s.metric?.labels?.response_code_class === "5xx") errors += n;
      }
      const p99s = latencies.flatMap((s) => (s.points ?? []).map((p) => p.value?.doubleValue ?? 0));
      return { requests, errors, ...(p99s.length > 0 ? { p99LatencyMs: Math.max(...p99s) } : {}) };
    },
  };
}
