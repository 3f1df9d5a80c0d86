// Runs the built Worker (edge/build) under miniflare/workerd for the end-to-end tests.
//
// Configuration comes from the environment so each test can point its own Worker at its own
// origin: ORIGIN_URL, DOMAINS (JSON object host -> org id), JWT_JWKS, JWT_JWKS_URL (optional),
// JWT_ISSUER, JWT_AUDIENCE, the claim map (JWT_ORG_CLAIM, JWT_ROLE_CLAIM, JWT_ADMIN_ROLES,
// JWT_SHOPPER_ROLES; the Worker's defaults when unset),
// EDGE_SHARED_SECRET (optional), MF_PORT (0 = any free port). The bindings mirror wrangler.toml:
// INVENTORY_CACHE_TTL_SECONDS, INVENTORY_STALE_MAX_SECONDS, the DOMAIN_* vars, and RATE_LIMIT_DEFAULTS,
// RATE_LIMIT_WHEN_UNREACHABLE, ORIGIN_DEADLINES_MS and ORIGIN_BREAKER (JSON) are passed on when
// set, RATE_LIMITS (JSON object org id -> limits) seeds that KV namespace, and
// the RATE_LIMITER Durable Object is bound unless WITHOUT_RATE_LIMITER=1 (to test what the
// Worker does when the limiter cannot be reached). Prints `ready <url>` once the KV namespaces
// are seeded; the harness waits for that line, not for a first HTTP answer.
//
// Before that it prints `harness <url>`: a server on another port, for the harness only. There
// `GET /?shop=<org id>` answers the request counts of that shop's limiter object (when the
// limiter is bound; `limiter-stats <url>` is printed then too), `GET /images` the keys stored
// in the IMAGES bucket, and `POST /scheduled` runs the Worker's scheduled handler (the picture
// sweep) once. It reaches the bindings directly, as the Worker never does, so no client of the
// Worker can reach or forge it.
//
// Like wrangler.toml, the Worker has its static assets (edge/build/assets, the ASSETS binding,
// the Worker run first for every request) and the R2 bucket IMAGES (kept with miniflare's other
// storage). IMAGE_ORPHAN_GRACE_SECONDS and IMAGE_EDGE_CACHE_SECONDS are passed on when set.
import { Miniflare } from "miniflare";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../edge/build");
const env = process.env;

const bindings = {
  ORIGIN_URL: env.ORIGIN_URL ?? "http://127.0.0.1:3000",
  JWT_ISSUER: env.JWT_ISSUER ?? "furnitureops",
  JWT_AUDIENCE: env.JWT_AUDIENCE ?? "furnitureops-shops",
  JWT_JWKS: env.JWT_JWKS ?? '{"keys":[]}',
};
if (env.EDGE_SHARED_SECRET) bindings.EDGE_SHARED_SECRET = env.EDGE_SHARED_SECRET;
if (env.JWT_JWKS_URL) bindings.JWT_JWKS_URL = env.JWT_JWKS_URL;
for (const name of [
  "IMAGE_EDGE_CACHE_SECONDS",
  "IMAGE_ORPHAN_GRACE_SECONDS",
  "INVENTORY_CACHE_TTL_SECONDS",
  "INVENTORY_STALE_MAX_SECONDS",
  "JWT_ORG_CLAIM",
  "JWT_ROLE_CLAIM",
  "JWT_ADMIN_ROLES",
  "JWT_SHOPPER_ROLES",
  "DOMAIN_CACHE_SECONDS",
  "DOMAIN_NEGATIVE_SECONDS",
  "DOMAIN_LOOKUPS_PER_MINUTE",
]) {
  if (env[name]) bindings[name] = env[name];
}
const jsonVars = [
  "RATE_LIMIT_DEFAULTS",
  "RATE_LIMIT_WHEN_UNREACHABLE",
  "ORIGIN_DEADLINES_MS",
  "ORIGIN_BREAKER",
];
for (const name of jsonVars) {
  if (env[name]) bindings[name] = JSON.parse(env[name]);
}

const durableObjects =
  env.WITHOUT_RATE_LIMITER === "1"
    ? {}
    : { RATE_LIMITER: { className: "RateLimiter", useSQLite: true } };

const mf = new Miniflare({
  host: "127.0.0.1",
  port: Number(env.MF_PORT ?? 0),
  cf: false,
  compatibilityDate: "2026-04-01",
  modules: true,
  scriptPath: path.join(root, "worker/shim.mjs"),
  modulesRoot: root,
  modulesRules: [
    { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
    { type: "CompiledWasm", include: ["**/*.wasm"] },
  ],
  bindings,
  kvNamespaces: { TENANT_DOMAINS: "tenant-domains", RATE_LIMITS: "rate-limits" },
  r2Buckets: ["IMAGES"],
  durableObjects,
  assets: {
    directory: path.join(root, "assets"),
    binding: "ASSETS",
    routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true },
    assetConfig: { html_handling: "none", not_found_handling: "none" },
  },
});

const url = await mf.ready;
const seed = async (binding, json) => {
  const namespace = await mf.getKVNamespace(binding);
  for (const [key, value] of Object.entries(JSON.parse(json ?? "{}"))) {
    await namespace.put(key, typeof value === "string" ? value : JSON.stringify(value));
  }
};
await seed("TENANT_DOMAINS", env.DOMAINS);
await seed("RATE_LIMITS", env.RATE_LIMITS);

const limiters = durableObjects.RATE_LIMITER
  ? await mf.getDurableObjectNamespace("RATE_LIMITER")
  : null;
const images = await mf.getR2Bucket("IMAGES");
const storedKeys = async () => {
  const keys = [];
  let cursor;
  do {
    const page = await images.list({ cursor });
    keys.push(...page.objects.map((object) => object.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys;
};
const harness = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, "http://harness");
    let answer;
    if (url.pathname === "/images") {
      answer = new Response(JSON.stringify(await storedKeys()));
    } else if (url.pathname === "/scheduled" && req.method === "POST") {
      const worker = await mf.getWorker();
      const result = await worker.scheduled({ cron: "*/15 * * * *" });
      answer = new Response(JSON.stringify(result));
    } else if (limiters) {
      const shop = url.searchParams.get("shop");
      const limiter = limiters.get(limiters.idFromName(`shop:${shop}`));
      answer = await limiter.fetch("https://rate-limiter/stats");
    } else {
      answer = new Response("no limiter", { status: 404 });
    }
    res.writeHead(answer.status, { "content-type": "application/json" });
    res.end(await answer.text());
  } catch (err) {
    res.writeHead(500);
    res.end(String(err));
  }
});
await new Promise((resolve) => harness.listen(0, "127.0.0.1", resolve));
const harnessUrl = `http://127.0.0.1:${harness.address().port}`;
console.log(`harness ${harnessUrl}`);
if (limiters) console.log(`limiter-stats ${harnessUrl}`);
console.log(`ready ${url.origin}`);

const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
