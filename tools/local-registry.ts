/**
 * Starts a real OCI registry (CNCF distribution: Debian's `docker-registry`, or the same registry built
 * from Go modules, see ./registry-binary.ts) on 127.0.0.1 with a temp storage directory, and either
 * htpasswd (Basic, bcrypt) auth or token auth: the registry answers `401 WWW-Authenticate: Bearer
 * realm=…` and trusts JWTs from a small token server started here, signed with a throwaway key whose
 * self-signed certificate it is given, as Artifact Registry and Docker Hub do. The bcrypt hash and the
 * token certificate are made in-process (bcryptjs, @peculiar/x509), so neither `htpasswd` nor
 * `openssl` is needed; only `tls` (the e2e suite) uses openssl. Used by the test setup and the benchmarks.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { KeyObject, randomUUID, sign, webcrypto } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
// @peculiar/x509's dependency injection (tsyringe) needs the Reflect metadata polyfill first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import bcrypt from "bcryptjs";
import { registryBinary } from "./registry-binary";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** A throwaway RSA key and a self-signed certificate for it, in-process. */
async function tokenCertificate(subject: string): Promise<{ key: KeyObject; pem: string; der: string }> {
  const alg = {
    name: "RSASSA-PKCS1-v1_5",
    hash: "SHA-256",
    publicExponent: new Uint8Array([1, 0, 1]),
    modulusLength: 2048,
  };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 2 * 86_400_000),
    signingAlgorithm: alg,
    keys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  return { key: KeyObject.from(keys.privateKey), pem: cert.toString("pem"), der: cert.toString("base64") };
}

export interface LocalRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  username: string;
  password: string;
  /** `htpasswd`: Basic auth. `token`: Bearer tokens from the token server. `none`: anonymous. */
  auth: "htpasswd" | "token" | "none";
  /** Tokens the token server issued (token mode). */
  tokensIssued(): number;
  /** The registry's storage (distribution's filesystem driver layout), to watch uploads happen. */
  dataDir: string;
  /** With `tls`: the throwaway CA that signed the registry's certificate (PEM file). */
  caCertPath?: string;
  /**
   * Token mode: accept another user name and password too (a rotated credential). The old one keeps
   * working, as a rotation's overlap does.
   */
  addCredential(username: string, password: string): void;
  stop(): void;
}

/** A certificate authority's PEM files, to sign a registry's certificate with. */
export interface CertificateAuthority {
  cert: string;
  key: string;
}

/**
 * Token mode's own decisions, for a registry that stands in for a cloud's: who a Basic credential is
 * (a cloud access token or an ECR password the fake cloud issued), and which of the actions asked
 * for (`pull`, `push`) that subject gets on a repository. The token carries only those, as
 * distribution's token spec has an authorization server do; the registry then refuses the rest.
 */
export interface TokenAuthority {
  subject(username: string, password: string): string | undefined;
  allowed(subject: string, repository: string, actions: string[]): string[];
}

export interface RegistryOptions {
  auth?: "htpasswd" | "token" | "none";
  /**
   * Serve HTTPS with a certificate for 127.0.0.1 signed by a throwaway CA (made with openssl), as
   * real registries do; BuildKit and docker-build are then pointed at that CA.
   * @default false
   */
  tls?: boolean;
  /** With `tls`: sign the certificate with this CA instead of a new one. @default - a new CA */
  ca?: CertificateAuthority;
  /** With `tls`: host names the certificate is also for. @default [] */
  hostNames?: string[];
  /** The loopback address and port to listen on. @default - 127.0.0.1 and a free port */
  listen?: { address: string; port: number };
  /** Token mode: who may do what; the user name and password this returns are not used then. @default - the one credential, every action */
  authority?: TokenAuthority;
  /**
   * Send distribution's notifications (each push, as `application/vnd.docker.distribution.events.v1+json`)
   * to `url`, with header `X-Registry-Host: <host>` naming the registry (the scanners in
   * tools/fake-cloud/scans.ts scan on push). @default - no notifications
   */
  notify?: { url: string; host: string };
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
  authority?: TokenAuthority,
  /** Serve over TLS (a registry on TLS): clients such as cosign (go-containerregistry's bearer
   * transport) refuse an `http` realm for a secure registry, as a real registry's is `https`. */
  tls?: { cert: string; key: string },
): Promise<{
  realm: string;
  certPath: string;
  issued: () => number;
  accept: (username: string, password: string) => void;
  close: () => void;
}> {
  const certPath = path.join(dir, "token.crt");
  const { key, pem, der } = await tokenCertificate("CN=test-token-issuer");
  fs.writeFileSync(certPath, pem);
  let issued = 0;
  const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;
  const accepted = new Map([[basic(credentials.username, credentials.password), credentials.username]]);
  const subjectOf = (header: string): string | undefined => {
    if (!authority) return accepted.get(header);
    const decoded = Buffer.from(header.replace(/^Basic /, ""), "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    return colon < 0 ? undefined : authority.subject(decoded.slice(0, colon), decoded.slice(colon + 1));
  };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const subject = subjectOf(req.headers.authorization ?? "");
    if (url.pathname !== "/token" || subject === undefined) {
      res.writeHead(401, { "content-type": "application/json" }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const access = url.searchParams.getAll("scope").flatMap((scope) => {
      const [type, name, actions] = scope.split(":");
      if (!type || !name || !actions) return [];
      const granted =
        authority && type === "repository"
          ? authority.allowed(subject, name, actions.split(","))
          : actions.split(",");
      return [{ type, name, actions: granted }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c: [der] }));
    const claims = b64url(
      JSON.stringify({
        iss: issuer,
        sub: subject,
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
  };
  const server = tls
    ? https.createServer({ cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) }, handler)
    : http.createServer(handler);
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    // A host name, not an IP literal: go-containerregistry (cosign) refuses a realm that is a loopback
    // or private IP literal (pkg/v1/remote/transport/bearer.go validateRealmURL), as real realms never are.
    realm: tls ? `https://localhost:${port}/token` : `http://127.0.0.1:${port}/token`,
    certPath,
    issued: () => issued,
    accept: (u, p) => void accepted.set(basic(u, p), u),
    close: () => server.close(),
  };
}

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

const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });

/** A throwaway self-signed certificate and its key, for the given DNS names if any. */
export function selfSigned(
  keyPath: string,
  certPath: string,
  subject: string,
  dnsNames: string[] = [],
): void {
  openssl(
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
    "2",
    "-subj",
    subject,
    ...(dnsNames.length > 0
      ? ["-addext", `subjectAltName=${dnsNames.map((h) => `DNS:${h}`).join(",")}`]
      : []),
  );
}

/** A throwaway certificate authority, in `dir`. */
export function makeCertificateAuthority(dir: string): CertificateAuthority {
  const ca = { cert: path.join(dir, "ca.crt"), key: path.join(dir, "ca.key") };
  selfSigned(ca.key, ca.cert, "/CN=multicloud-deploy test CA");
  return ca;
}

/** A certificate for `address` (and `hostNames`) signed by `authority`, in `dir`. */
export function makeCertificate(
  dir: string,
  authority: CertificateAuthority,
  address: string,
  hostNames: string[] = [],
  name = "registry",
): { cert: string; key: string } {
  const f = (file: string) => path.join(dir, file);
  openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    f(`${name}.key`),
    "-out",
    f(`${name}.csr`),
    "-subj",
    `/CN=${hostNames[0] ?? address}`,
  );
  const names = [`IP:${address}`, "DNS:localhost", ...hostNames.map((h) => `DNS:${h}`)];
  fs.writeFileSync(f(`${name}.cnf`), `subjectAltName=${names.join(",")}\n`);
  openssl(
    "x509",
    "-req",
    "-in",
    f(`${name}.csr`),
    "-CA",
    authority.cert,
    "-CAkey",
    authority.key,
    "-CAcreateserial",
    "-out",
    f(`${name}.crt`),
    "-days",
    "2",
    "-extfile",
    f(`${name}.cnf`),
  );
  return { cert: f(`${name}.crt`), key: f(`${name}.key`) };
}

async function waitForRegistry(
  url: string,
  child: ChildProcess,
  log: () => string,
  ca?: string,
): Promise<void> {
  const deadline = Date.now() + 15_000;
  const probe = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const target = new URL(url);
      const req = (target.protocol === "https:" ? https : http).get(
        target,
        ca ? { ca: fs.readFileSync(ca) } : {},
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
    });
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${log()}`);
    try {
      const status = await probe();
      if (status === 401 || status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer on ${url} within 15 s: ${log()}`);
}

/** Starts the registry or throws why it cannot. */
export async function startRegistry(
  options: RegistryOptions["auth"] | RegistryOptions = "htpasswd",
): Promise<LocalRegistry> {
  const {
    auth = "htpasswd",
    tls = false,
    ca,
    hostNames = [],
    listen,
    authority,
    notify,
  } = typeof options === "string" ? ({ auth: options } as RegistryOptions) : options;
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
    const bin = registryBinary();
    fs.writeFileSync(path.join(dir, "htpasswd"), `${username}:${bcrypt.hashSync(password, 10)}\n`);
    const authorityFiles = tls ? (ca ?? makeCertificateAuthority(dir)) : undefined;
    if (auth === "token") {
      tokens = await startTokenServer(
        dir,
        { username, password },
        "test-registry",
        "test-issuer",
        authority,
        authorityFiles && makeCertificate(dir, authorityFiles, "127.0.0.1", [], "token-server"),
      );
    }
    const address = listen?.address ?? "127.0.0.1";
    const host = `${address}:${listen?.port ?? (await freePort())}`;
    const certs = authorityFiles
      ? { ca: authorityFiles.cert, ...makeCertificate(dir, authorityFiles, address, hostNames) }
      : undefined;
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
        ...(certs ? ["  tls:", `    certificate: ${certs.cert}`, `    key: ${certs.key}`] : []),
        ...(auth === "none" ? [] : ["auth:"]),
        ...(auth === "none"
          ? []
          : tokens
            ? [
                "  token:",
                `    realm: ${tokens.realm}`,
                "    service: test-registry",
                "    issuer: test-issuer",
                `    rootcertbundle: ${tokens.certPath}`,
              ]
            : ["  htpasswd:", "    realm: test-registry", `    path: ${path.join(dir, "htpasswd")}`]),
        ...(notify
          ? [
              "notifications:",
              "  endpoints:",
              "    - name: scanner",
              `      url: ${notify.url}`,
              "      headers:",
              `        X-Registry-Host: [${notify.host}]`,
              "      timeout: 5s",
              "      threshold: 3",
              "      backoff: 1s",
              "      ignore:",
              "        actions: [pull]",
            ]
          : []),
        "",
      ].join("\n"),
    );
    let output = "";
    child = spawn(bin, ["serve", path.join(dir, "config.yml")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (d) => (output += d));
    child.stderr?.on("data", (d) => (output += d));
    await waitForRegistry(
      `${certs ? "https" : "http"}://${host}/v2/`,
      child,
      () => output.slice(-2000),
      certs?.ca,
    );
    const issued = tokens?.issued ?? (() => 0);
    const addCredential = (u: string, p: string) => {
      if (!tokens) throw new Error("addCredential needs token auth");
      tokens.accept(u, p);
    };
    return {
      host,
      username,
      password,
      auth,
      tokensIssued: issued,
      caCertPath: certs?.ca,
      dataDir: path.join(dir, "data"),
      addCredential,
      stop: cleanup,
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}
