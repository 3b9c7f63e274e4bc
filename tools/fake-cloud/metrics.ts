/**
 * What the clouds measure of the requests users send, and the two APIs that read it back late, as the
 * release's traffic analysis meets them (lib/release/metrics-cloud-run.ts, metrics-lambda.ts). Nothing
 * here is written by a test: every sample is a request that reached a revision's or alias's URL through
 * this fake cloud (index.ts), with its status and its measured time.
 *
 * Cloud Monitoring, `GET /v3/projects/<p>/timeSeries` (monitoring.googleapis.com; googleapis
 * google/monitoring/v3/metric_service.proto `ListTimeSeriesRequest`, common.proto `Aggregation`):
 * - `filter` must name exactly one `metric.type` ("Specifies which time series should be returned …
 *   must specify a single metric type"), else 400 `INVALID_ARGUMENT`; `resource.labels.*` clauses
 *   narrow it (`cloud_run_revision`: `service_name`, `revision_name`, `location`, `project_id`).
 * - `interval.endTime` is required; `aggregation.alignmentPeriod` is required with an aligner and "must
 *   be at least 60 seconds"; a `crossSeriesReducer` needs a `perSeriesAligner` ("perSeriesAligner
 *   must be specified and not equal to ALIGN_NONE"), each else 400 `INVALID_ARGUMENT`.
 * - `run.googleapis.com/request_count` (INT64) by `response_code_class`; `request_latencies`
 *   (DISTRIBUTION, ms) reduced by `REDUCE_PERCENTILE_{99,95,50}` to a DOUBLE (the real API estimates
 *   it from the distribution's buckets; here it is the exact nearest-rank value). Only the aggregations
 *   the release sends are modelled; any other is refused 400, saying so, never answered wrongly.
 * - A window with no data answers `{}`: no `timeSeries` key (proto3 JSON omits an empty list).
 * - "Sampled every 60 seconds. After sampling, data is not visible for up to 120 seconds" (metric
 *   list, `run`): a sample is visible `publishDelayMs` after its request, up to 180 s on Cloud Run.
 * - Permission `monitoring.timeSeries.list` on the project; a denied principal gets auth.ts's 403.
 *
 * CloudWatch `GetMetricData` (POST / on monitoring.<region>.amazonaws.com, awsJson1_0 with
 * `X-Amz-Target: GraniteServiceVersion20100801.GetMetricData`, @aws-sdk/client-cloudwatch 3.1178.0's
 * protocol; API_GetMetricData, API_MetricDataQuery, API_MetricDataResult):
 * - Each `MetricDataQuery` has an `Id` matching `^[a-z][a-zA-Z0-9_]*$`, at most 500 per call; a
 *   `MetricStat.Period` of regular-resolution data "must be a multiple of 60"; `StartTime` before
 *   `EndTime`: each else 400 `InvalidParameterValue` (with awsQueryCompatible's `x-amzn-query-error`).
 * - `StartTime` "less than 15 days ago - Round down to the nearest whole minute"; data points per
 *   `Period` from there, newest first (`ScanBy` default `TimestampDescending`); a period with no data
 *   has no point: "Values" empty when nothing ran.
 * - A metric is found only under the exact set of dimensions it was published with. Lambda publishes
 *   `Invocations`, `Errors`, `Duration` under `{FunctionName}`, `{FunctionName, Resource}` and
 *   `{FunctionName, Resource, ExecutedVersion}` (monitoring-metrics.md; aws/aws-cdk#14248 shows the
 *   three); `Throttles` without `ExecutedVersion`, as a throttled request ran no version.
 * - Timestamps are epoch seconds (awsJson); throttling is `Throttling` (400), as CloudWatch's common
 *   errors name it.
 */
import type * as http from "node:http";
import { awsDenied, googleDenied } from "./auth";
import { googleError } from "./cloud-run";
import type { JsonBody, Reply } from "./http";

/** One request a Cloud Run revision served (through the service URL or a tag URL). */
export interface RunSample {
  project: string;
  location: string;
  service: string;
  revision: string;
  status: number;
  latencyMs: number;
  /** When the request ended (ms since the epoch): `request_count` is "captured at the end of the request lifecycle". */
  at: number;
}

/** One Lambda invocation, or a throttled one. */
export interface LambdaSample {
  fn: string;
  /** `<fn>:<qualifier>` as invoked (an alias or a version). */
  resource: string;
  /** The version that ran; undefined for a throttled request. */
  executedVersion?: string;
  error: boolean;
  throttled: boolean;
  durationMs: number;
  /** When it was invoked: CloudWatch stamps "when the function was invoked". */
  at: number;
}

/** Nearest-rank percentile of a list (p in 0-100). */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export class MetricsApi {
  readonly run: RunSample[] = [];
  readonly lambda: LambdaSample[] = [];
  /** How long after a request its sample can be read (both APIs). Real: up to 180 s. @default 180_000 */
  publishDelayMs = 180_000;
  /** Principals (Google) and accounts (AWS) whose reads are refused, as without the role. */
  readonly denied = new Set<string>();
  /** The next reads of either API answer this (429 throttled, 503), then it is cleared. */
  failNext: { api: "google" | "aws"; status: 429 | 503; times: number } | undefined;
  /** Reads answered, for the tests: which window, which filter. */
  readonly reads: { api: "google" | "aws"; start: number; end: number }[] = [];

  constructor(
    private readonly googlePrincipal: (token: string) => string | undefined,
    private readonly awsAccount: (keyId: string) => string | undefined,
  ) {}

  reset(): void {
    this.denied.clear();
    this.failNext = undefined;
  }

  private visible<T extends { at: number }>(samples: T[], start: number, end: number): T[] {
    const published = Date.now() - this.publishDelayMs;
    return samples.filter((s) => s.at >= start && s.at <= end && s.at <= published);
  }

  private failing(api: "google" | "aws"): 429 | 503 | undefined {
    const f = this.failNext;
    if (!f || f.api !== api) return undefined;
    if (--f.times <= 0) this.failNext = undefined;
    return f.status;
  }

  handle(req: http.IncomingMessage, method: string, url: URL, body: JsonBody, reply: Reply): boolean {
    const m = /^\/v3\/projects\/([^/]+)\/timeSeries$/.exec(url.pathname);
    if (m && method === "GET") return this.listTimeSeries(req, m[1]!, url.searchParams, reply);
    if (method === "POST" && req.headers["x-amz-target"] === "GraniteServiceVersion20100801.GetMetricData")
      return this.getMetricData(req, body, reply);
    return false;
  }

  private listTimeSeries(
    req: http.IncomingMessage,
    project: string,
    q: URLSearchParams,
    reply: Reply,
  ): boolean {
    const token = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ""))?.[1] ?? "";
    const principal = this.googlePrincipal(token);
    if (!principal)
      return (reply(401, googleError(401, "Request had invalid authentication credentials.")), true);
    if (this.denied.has(principal))
      return googleDenied(reply, "monitoring.timeSeries.list", `projects/${project}`);
    const failed = this.failing("google");
    if (failed) return (reply(failed, googleError(failed, `fake cloud: planned ${failed}`)), true);
    const invalid = (message: string) => (reply(400, googleError(400, message, "INVALID_ARGUMENT")), true);
    const clauses = [...(q.get("filter") ?? "").matchAll(/([\w.]+)\s*=\s*"([^"]*)"/g)].map((c) => [
      c[1]!,
      c[2]!,
    ]);
    const types = clauses.filter(([k]) => k === "metric.type");
    if (types.length !== 1) return invalid("The filter must specify a single metric type.");
    const labels = new Map(
      clauses.filter(([k]) => k.startsWith("resource.labels.")).map(([k, v]) => [k.slice(16), v]),
    );
    const end = Date.parse(q.get("interval.endTime") ?? "");
    if (Number.isNaN(end)) return invalid("interval.endTime is required.");
    const start = q.has("interval.startTime") ? Date.parse(q.get("interval.startTime")!) : end;
    const aligner = q.get("aggregation.perSeriesAligner") ?? "ALIGN_NONE";
    const reducer = q.get("aggregation.crossSeriesReducer") ?? "REDUCE_NONE";
    const period = /^(\d+)s$/.exec(q.get("aggregation.alignmentPeriod") ?? "")?.[1];
    if (aligner !== "ALIGN_NONE" && (!period || Number(period) < 60))
      return invalid("The alignment period must be at least 60 seconds.");
    if (reducer !== "REDUCE_NONE" && aligner === "ALIGN_NONE")
      return invalid(
        "perSeriesAligner must be specified and not equal to ALIGN_NONE when crossSeriesReducer is given.",
      );
    this.reads.push({ api: "google", start, end });
    const samples = this.visible(this.run, start, end).filter(
      (s) =>
        s.project === project &&
        [...labels].every(([k, v]) =>
          k === "service_name"
            ? s.service === v
            : k === "revision_name"
              ? s.revision === v
              : k === "location"
                ? s.location === v
                : k === "project_id"
                  ? s.project === v
                  : false,
        ),
    );
    const interval = {
      startTime: new Date(end - Number(period ?? 0) * 1000).toISOString(),
      endTime: new Date(end).toISOString(),
    };
    const metric = types[0]![1];
    if (samples.length === 0) return (reply(200, {}), true);
    if (
      metric === "run.googleapis.com/request_count" &&
      aligner === "ALIGN_DELTA" &&
      reducer === "REDUCE_SUM"
    ) {
      const byClass = q.getAll("aggregation.groupByFields").includes("metric.label.response_code_class");
      const groups = new Map<string, number>();
      for (const s of samples) {
        const key = byClass ? `${Math.floor(s.status / 100)}xx` : "";
        groups.set(key, (groups.get(key) ?? 0) + 1);
      }
      const timeSeries = [...groups].map(([cls, n]) => ({
        metric: { type: metric, labels: byClass ? { response_code_class: cls } : {} },
        resource: { type: "cloud_run_revision", labels: { project_id: project } },
        metricKind: "DELTA",
        valueType: "INT64",
        points: [{ interval, value: { int64Value: String(n) } }],
      }));
      return (reply(200, { timeSeries, unit: "1" }), true);
    }
    const pct = /^REDUCE_PERCENTILE_(99|95|50)$/.exec(reducer)?.[1];
    if (metric === "run.googleapis.com/request_latencies" && aligner === "ALIGN_DELTA" && pct) {
      const value = percentile(
        samples.map((s) => s.latencyMs),
        Number(pct),
      );
      return (
        reply(200, {
          timeSeries: [
            {
              metric: { type: metric },
              resource: { type: "cloud_run_revision", labels: { project_id: project } },
              metricKind: "GAUGE",
              valueType: "DOUBLE",
              points: [{ interval, value: { doubleValue: value } }],
            },
          ],
          unit: "ms",
        }),
        true
      );
    }
    return invalid(`fake cloud: ${metric} with ${aligner}/${reducer} is not modelled here`);
  }

  private getMetricData(req: http.IncomingMessage, body: JsonBody, reply: Reply): boolean {
    const json = { "content-type": "application/x-amz-json-1.0" };
    const fail = (status: number, code: string, message: string) => (
      reply(
        status,
        { __type: `com.amazonaws.cloudwatch#${code}`, message },
        { ...json, "x-amzn-query-error": `${code};Sender` },
      ),
      true
    );
    const keyId = /Credential=([^/,\s]+)/.exec(String(req.headers.authorization ?? ""))?.[1] ?? "";
    const account = this.awsAccount(keyId);
    if (!account)
      return fail(403, "InvalidClientTokenId", "The security token included in the request is invalid.");
    if (this.denied.has(account)) return awsDenied(reply, account, "cloudwatch:GetMetricData", "*");
    const failed = this.failing("aws");
    if (failed === 429) return fail(400, "Throttling", "Rate exceeded");
    if (failed) return fail(503, "ServiceUnavailable", "Service Unavailable");
    const queries = (body.MetricDataQueries ?? []) as JsonBody[];
    if (queries.length === 0 || queries.length > 500)
      return fail(
        400,
        "InvalidParameterValue",
        "The collection MetricDataQueries must not be empty and may hold at most 500 items.",
      );
    const start0 = Number(body.StartTime) * 1000;
    const end = Number(body.EndTime) * 1000;
    if (!(start0 < end))
      return fail(
        400,
        "InvalidParameterValue",
        "The parameter StartTime must be less than the parameter EndTime.",
      );
    const start = Math.floor(start0 / 60_000) * 60_000;
    const results = [];
    for (const q of queries) {
      if (!/^[a-z][a-zA-Z0-9_]*$/.test(String(q.Id)))
        return fail(
          400,
          "InvalidParameterValue",
          `The value ${q.Id} for parameter MetricDataQueries.member.Id is invalid.`,
        );
      const stat = q.MetricStat as JsonBody | undefined;
      const period = Number(stat?.Period);
      if (!stat || !(period >= 60 && period % 60 === 0))
        return fail(
          400,
          "InvalidParameterValue",
          "The parameter MetricDataQueries.member.MetricStat.Period must be a multiple of 60.",
        );
      const dims = new Map(
        ((stat.Metric?.Dimensions ?? []) as { Name: string; Value: string }[]).map((d) => [d.Name, d.Value]),
      );
      const name = String(stat.Metric?.MetricName);
      const matches = (s: LambdaSample) => {
        if (stat.Metric?.Namespace !== "AWS/Lambda" || dims.get("FunctionName") !== s.fn) return false;
        const keys = [...dims.keys()].sort().join(",");
        if (keys === "FunctionName") return true;
        if (keys === "FunctionName,Resource") return dims.get("Resource") === s.resource;
        if (keys === "ExecutedVersion,FunctionName,Resource")
          return (
            !s.throttled &&
            dims.get("Resource") === s.resource &&
            dims.get("ExecutedVersion") === s.executedVersion
          );
        return false;
      };
      const samples = this.visible(this.lambda, start, end - 1).filter(matches);
      const pick = (s: LambdaSample): number | undefined =>
        name === "Invocations"
          ? s.throttled
            ? undefined
            : 1
          : name === "Errors"
            ? s.throttled
              ? undefined
              : s.error
                ? 1
                : 0
            : name === "Throttles"
              ? s.throttled
                ? 1
                : undefined
              : name === "Duration"
                ? s.throttled
                  ? undefined
                  : s.durationMs
                : undefined;
      const buckets = new Map<number, number[]>();
      for (const s of samples) {
        const v = pick(s);
        if (v === undefined) continue;
        const at = start + Math.floor((s.at - start) / (period * 1000)) * period * 1000;
        buckets.set(at, [...(buckets.get(at) ?? []), v]);
      }
      const p = /^p(\d+(?:\.\d+)?)$/.exec(String(stat.Stat))?.[1];
      const value = (vs: number[]) =>
        stat.Stat === "Sum"
          ? vs.reduce((a, b) => a + b, 0)
          : stat.Stat === "SampleCount"
            ? vs.length
            : stat.Stat === "Maximum"
              ? Math.max(...vs)
              : p
                ? percentile(vs, Number(p))
                : NaN;
      if (Number.isNaN(value([1])))
        return fail(
          400,
          "InvalidParameterValue",
          `fake cloud: the statistic ${stat.Stat} is not modelled here`,
        );
      const points = [...buckets].sort(([a], [b]) => b - a);
      results.push({
        Id: q.Id,
        Label: name,
        Timestamps: points.map(([at]) => at / 1000),
        Values: points.map(([, vs]) => value(vs)),
        StatusCode: "Complete",
      });
    }
    this.reads.push({ api: "aws", start, end });
    reply(200, { MetricDataResults: results, Messages: [] }, json);
    return true;
  }
}
