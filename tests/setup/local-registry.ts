/**
 * Starts a real OCI registry (Debian's `docker-registry`, CNCF distribution) on 127.0.0.1 with a temp
 * storage directory, and either htpasswd (Basic) auth or token auth: the registry answers
 * `401 WWW-Authenticate: Bearer realm=…` and trusts JWTs from a small token server started here,
 * signed with a throwaway key whose self-signed certificate (made with `openssl`) it is given, as
 * Artifact Registry and Docker Hub do. Used by the test setup and the benchmarks.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createPrivateKey, randomUUID, sign } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export interface LocalRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  username: string;
  password: string;
  /** `htpasswd`: Basic auth. `token`: Bearer tokens from the token server. */
  auth: "htpasswd" | "token";
  /** Tokens the token server issued (token mode). */
  tokensIssued(): number;
  stop(): void;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/**
 * The token server (distribution's token auth spec): checks Basic credentials, grants the scope asked
 * for, and signs an RS256 JWT whose `x5c` header carries the certificate the registry trusts.
 */
async function startTokenServer(
  dir: string,
  credentials: { username: string; password: string },
  service: string,
  issuer: string,
): Promise<{ realm: string; certPath: string; issued: () => number; close: () => void }> {
  const keyPath = path.join(dir, "token.key");
  const certPath = path.join(dir, "token.crt");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-days",
      "1",
      "-subj",
      "/CN=test-token-issuer",
    ],
    { stdio: "ignore" },
  );
  const key = createPrivateKey(fs.readFileSync(keyPath));
  const der = fs.readFileSync(certPath, "utf8").replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, "");
  let issued = 0;
  const expected = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== "/token" || req.headers.authorization !== expected) {
      res.writeHead(401, { "content-type": "application/json" }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const access = url.searchParams.getAll("scope").flatMap((scope) => {
      const [type, name, actions] = scope.split(":");
      return type && name && actions ? [{ type, name, actions: actions.split(",") }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c: [der] }));
    const claims = b64url(
      JSON.stringify({
        iss: issuer,
        sub: credentials.username,
        aud: service,
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomUUID(),
        access,
      }),
    );
    const signature = b64url(sign("RSA-SHA256", Buffer.from(`${header}.${claims}`), key));
    issued++;
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ token: `${header}.${claims}.${signature}`, expires_in: 300 }));
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    realm: `http://127.0.0.1:${port}/token`,
    certPath,
    issued: () => issued,
    close: () => server.close(),
  };
}

const REGISTRY_BIN = process.env.REGISTRY_BIN ?? "/usr/bin/docker-registry";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

async function waitForRegistry(host: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${log()}`);
    try {
      const res = await fetch(`http://${host}/v2/`);
      if (res.status === 401 || res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer on ${host} within 15 s: ${log()}`);
}

/** Starts the registry or throws why it cannot. */
export async function startRegistry(auth: "htpasswd" | "token" = "htpasswd"): Promise<LocalRegistry> {
  const username = "ci";
  const password = `pw-${process.pid}-${Date.now()}`;
  let child: ChildProcess | undefined;
  let tokens: Awaited<ReturnType<typeof startTokenServer>> | undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mcd-registry-"));
  const cleanup = () => {
    child?.kill();
    tokens?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    if (!fs.existsSync(REGISTRY_BIN)) {
      throw new Error(
        `${REGISTRY_BIN} not found: install Debian's docker-registry package (\`apt-get install docker-registry apache2-utils\`; .ci/run does)`,
      );
    }
    const htpasswd = execFileSync("htpasswd", ["-Bbn", username, password], { encoding: "utf8" });
    fs.writeFileSync(path.join(dir, "htpasswd"), htpasswd);
    if (auth === "token")
      tokens = await startTokenServer(dir, { username, password }, "test-registry", "test-issuer");
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    fs.writeFileSync(
      path.join(dir, "config.yml"),
      [
        "version: 0.1",
        "log:",
        "  level: warn",
        "storage:",
        "  filesystem:",
        `    rootdirectory: ${path.join(dir, "data")}`,
        "  delete:",
        "    enabled: true",
        "http:",
        `  addr: ${host}`,
        "auth:",
        ...(tokens
          ? [
              "  token:",
              `    realm: ${tokens.realm}`,
              "    service: test-registry",
              "    issuer: test-issuer",
              `    rootcertbundle: ${tokens.certPath}`,
            ]
          : ["  htpasswd:", "    realm: test-registry", `    path: ${path.join(dir, "htpasswd")}`]),
        "",
      ].join("\n"),
    );
    let output = "";
    child = spawn(REGISTRY_BIN, ["serve", path.join(dir, "config.yml")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (d) => (output += d));
    child.stderr?.on("data", (d) => (output += d));
    await waitForRegistry(host, child, () => output.slice(-2000));
    const issued = tokens?.issued ?? (() => 0);
    return { host, username, password, auth, tokensIssued: issued, stop: cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}
