/**
 * A forwarding proxy in front of a test registry on loopback, for tests that make the registry
 * misbehave on purpose (a 500, a body cut short) while everything else passes through unchanged.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

/** Sends the request on to the registry; `respond` gets its answer (default: passed back as it is). */
export type Forward = (respond?: (upstream: http.IncomingMessage) => void) => void;

export interface RegistryProxy {
  /** `127.0.0.1:<port>` */
  host: string;
  close(): Promise<void>;
}

export async function startRegistryProxy(
  upstream: string,
  handle: (req: http.IncomingMessage, res: http.ServerResponse, forward: Forward) => void = (_req, _res, f) =>
    f(),
): Promise<RegistryProxy> {
  const [host, port] = upstream.split(":");
  const server = http.createServer((req, res) => {
    const forward: Forward = (respond) => {
      const up = http.request(
        { host, port: Number(port), path: req.url, method: req.method, headers: req.headers },
        respond ??
          ((answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          }),
      );
      req.pipe(up);
    };
    handle(req, res, forward);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
