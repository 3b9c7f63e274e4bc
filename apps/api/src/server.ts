/**
 * The sample Cloud Run service: a tiny HTTP server with a health endpoint for Cloud Run's probes and
 * the deploy's health gate. Secrets arrive as env vars resolved by Cloud Run from Secret Manager
 * (`valueSource.secretKeyRef`); this process never logs or returns them.
 */
import * as http from "node:http";

export interface ApiOptions {
  /** Commit SHA of the running image (`APP_VERSION`, set by the deploy). */
  version: string;
  /** Whether the API key secret reached the process (the value itself is never exposed). */
  apiKeyConfigured: boolean;
}

export function createApi(options: ApiOptions): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    if (url.pathname === "/health") {
      res.writeHead(200, { "content-type": "text/plain", "cache-control": "no-store" }).end("healthy");
      return;
    }
    if (url.pathname === "/") {
      const body = JSON.stringify({
        service: "api",
        version: options.version,
        apiKeyConfigured: options.apiKeyConfigured,
      });
      res.writeHead(200, { "content-type": "application/json" }).end(body);
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  });
}

/** Listens on `PORT` (Cloud Run sets it) and drains in-flight requests on SIGTERM. */
export function start(env: NodeJS.ProcessEnv = process.env): http.Server {
  const port = Number(env.PORT ?? 8080);
  const server = createApi({ version: env.APP_VERSION ?? "unknown", apiKeyConfigured: Boolean(env.API_KEY) });
  server.listen(port, () =>
    console.log(JSON.stringify({ severity: "INFO", message: `listening on ${port}` })),
  );
  process.once("SIGTERM", () => server.close(() => process.exit(0)));
  return server;
}

if (require.main === module) start();
