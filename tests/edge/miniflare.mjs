// Runs the built Worker (edge/build) under miniflare/workerd for the end-to-end tests.
//
// Configuration comes from the environment so each test can point its own Worker at its own
// origin: ORIGIN_URL, DOMAINS (JSON object host -> org id), JWT_JWKS, JWT_ISSUER, JWT_AUDIENCE,
// EDGE_SHARED_SECRET and INVENTORY_CACHE_TTL_SECONDS (optional), MF_PORT (0 = any free port).
// Prints `ready <url>` once the domain map is seeded; the harness waits for that line, not for a
// first HTTP answer.
import { Miniflare } from "miniflare";
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
if (env.INVENTORY_CACHE_TTL_SECONDS) {
  bindings.INVENTORY_CACHE_TTL_SECONDS = env.INVENTORY_CACHE_TTL_SECONDS;
}

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
  kvNamespaces: { TENANT_DOMAINS: "tenant-domains" },
});

const url = await mf.ready;
const domains = await mf.getKVNamespace("TENANT_DOMAINS");
for (const [host, org] of Object.entries(JSON.parse(env.DOMAINS ?? "{}"))) {
  await domains.put(host, org);
}
console.log(`ready ${url.origin}`);

const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
