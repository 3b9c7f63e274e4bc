/**
 * Users of the release suite's services: requests through the Cloud Run service's own URL
 * (`https://<service host>/`) and invocations of the Lambda alias (`Qualifier: live`) through the real
 * Lambda client, both by their real host names resolved to loopback (as the suite's hosts file does
 * for its CLI), over TLS trusted by the suite's CA. The stand-in clouds measure what these requests
 * got (tools/fake-cloud/metrics.ts): the traffic analysis judges traffic that happened.
 */
import * as fs from "node:fs";
import * as https from "node:https";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";

export interface UsersOptions {
  /** The suite CA's certificate (a path). */
  ca: string;
  /** The service's `*.run.app` host name. */
  serviceHost: string;
  /** The function's name and alias. */
  fn: string;
  alias: string;
  /** The deployer's AWS key id (the stand-in knows its account). */
  awsAccessKeyId: string;
  /** Between one user's requests. @default 25 */
  intervalMs?: number;
  /** Users at once, each waiting for its answers before it asks again. @default 1 */
  users?: number;
}

/** Sends requests to both services until stopped; says how many each got, and how many failed. */
export function startUsers(o: UsersOptions) {
  const agent = new https.Agent({
    ca: fs.readFileSync(o.ca),
    keepAlive: true,
    // The real host names, resolved to the loopback address the stand-ins listen on.
    lookup: (_host, options, cb) =>
      (options as { all?: boolean }).all
        ? cb(null, [{ address: "127.0.0.1", family: 4 }])
        : cb(null, "127.0.0.1", 4),
  });
  const lambda = new LambdaClient({
    region: "us-east-1",
    credentials: { accessKeyId: o.awsAccessKeyId, secretAccessKey: "e2e-users" },
    maxAttempts: 1,
    requestHandler: { httpsAgent: agent },
  });
  const sent = { cloudRun: 0, cloudRunFailed: 0, lambda: 0, lambdaFailed: 0 };
  let running = true;
  const get = () =>
    new Promise<number>((resolve) => {
      https
        .get({ host: o.serviceHost, path: "/", agent }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        })
        .on("error", () => resolve(0));
    });
  const loop = async () => {
    while (running) {
      const [status, invoked] = await Promise.all([
        get(),
        lambda
          .send(
            new InvokeCommand({
              FunctionName: o.fn,
              Qualifier: o.alias,
              Payload: Buffer.from('{"path":"/"}'),
            }),
          )
          .then(
            (r) => !r.FunctionError,
            () => false,
          ),
      ]);
      sent.cloudRun++;
      if (status !== 200) sent.cloudRunFailed++;
      sent.lambda++;
      if (!invoked) sent.lambdaFailed++;
      await new Promise((r) => setTimeout(r, o.intervalMs ?? 25));
    }
  };
  const done = Promise.all(Array.from({ length: o.users ?? 1 }, loop));
  return {
    async stop() {
      running = false;
      await done;
      agent.destroy();
      return sent;
    },
  };
}
