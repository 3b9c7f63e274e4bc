/**
 * A Lambda version's own traffic through its alias, read from CloudWatch (analysis.ts judges it), with
 * `GetMetricData` (@aws-sdk/client-cloudwatch; CloudWatch API reference, API_GetMetricData and
 * API_MetricDataQuery; the Lambda developer guide, monitoring-metrics.md):
 *
 * - Namespace `AWS/Lambda`, sent "in 1-minute intervals". With the dimensions `FunctionName`,
 *   `Resource` = `<function>:<alias>` and `ExecutedVersion` = the version, the numbers are the alias's
 *   requests that this version served: "compare error rates for two versions of a function that are
 *   both targets of a weighted alias". The gate's own invocations (qualified by the version, not the
 *   alias) are not among them.
 * - `Invocations` and `Errors` (function errors, timeouts included) with `Sum`; `Duration` with `p99`.
 *   "Throttled requests and other invocation errors don't count as Invocations or Errors": `Throttles`
 *   is read apart, for the alias (a throttled request ran no version), and reported, never judged.
 * - `Period` in seconds, "a multiple of 60" for regular-resolution metrics: the window's length rounded
 *   up, so one data point spans it. `StartTime` less than 15 days old is rounded down to the whole
 *   minute, so a window may take in up to a minute before the step began.
 * - No invocation in the window is an empty `Values`, never a zero point (Flagger reads it as "no
 *   values found"): zero requests here. `StatusCode` other than `Complete` with a `NextToken` is read on.
 * - Permission `cloudwatch:GetMetricData`.
 */
import {
  GetMetricDataCommand,
  type CloudWatchClient,
  type Dimension,
  type MetricDataQuery,
  type MetricDataResult,
} from "@aws-sdk/client-cloudwatch";
import type { CanaryMetrics, MetricsReader, Window } from "./analysis";

export interface LambdaMetricsOptions {
  client: CloudWatchClient;
  functionName: string;
  alias: string;
  version: string;
}

/** A CloudWatch period spanning a window: whole minutes, at least one. */
export const periodSeconds = (w: Window) => Math.max(60, Math.ceil((w.endMs - w.startMs) / 60_000) * 60);

export function lambdaMetrics(o: LambdaMetricsOptions): MetricsReader {
  const alias: Dimension[] = [
    { Name: "FunctionName", Value: o.functionName },
    { Name: "Resource", Value: `${o.functionName}:${o.alias}` },
  ];
  const executed: Dimension[] = [...alias, { Name: "ExecutedVersion", Value: o.version }];
  const query = (Id: string, MetricName: string, Stat: string, Dimensions: Dimension[], Period: number) =>
    ({
      Id,
      MetricStat: { Metric: { Namespace: "AWS/Lambda", MetricName, Dimensions }, Period, Stat },
      ReturnData: true,
    }) satisfies MetricDataQuery;
  return {
    source: "CloudWatch",
    async read(w: Window): Promise<CanaryMetrics> {
      const period = periodSeconds(w);
      const results: MetricDataResult[] = [];
      let NextToken: string | undefined;
      do {
        // Retried by the release as a whole read (run.ts `analyse`): nothing is retried beneath it.
        const page = await o.client.send(
          new GetMetricDataCommand({
            MetricDataQueries: [
              query("invocations", "Invocations", "Sum", executed, period),
              query("errors", "Errors", "Sum", executed, period),
              query("duration", "Duration", "p99", executed, period),
              query("throttles", "Throttles", "Sum", alias, period),
            ],
            StartTime: new Date(w.startMs),
            EndTime: new Date(w.endMs),
            ...(NextToken ? { NextToken } : {}),
          }),
        );
        results.push(...(page.MetricDataResults ?? []));
        NextToken = page.NextToken;
      } while (NextToken);
      const values = (id: string) => results.filter((r) => r.Id === id).flatMap((r) => r.Values ?? []);
      const sum = (id: string) => values(id).reduce((n, v) => n + v, 0);
      const p99s = values("duration");
      return {
        requests: sum("invocations"),
        errors: sum("errors"),
        throttles: sum("throttles"),
        ...(p99s.length > 0 ? { p99LatencyMs: Math.max(...p99s) } : {}),
      };
    },
  };
}
