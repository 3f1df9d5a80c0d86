// Prints the figures of Lighthouse JSON reports (scripts/lighthouse): per report the
// performance score, Largest Contentful Paint, Cumulative Layout Shift, Total Blocking Time and
// First Contentful Paint, then the median of each preset's runs, and for the last report what
// Lighthouse names as the LCP element and the render-blocking requests, to tell why a score
// is what it is.
//
//   node scripts/lighthouse-figures.mjs <report.json>...
import { readFileSync } from "node:fs";

const reports = process.argv.slice(2).map((path) => ({ path, lhr: JSON.parse(readFileSync(path, "utf8")) }));
const figures = ({ lhr }) => ({
  preset: lhr.configSettings.formFactor,
  score: Math.round(lhr.categories.performance.score * 100),
  lcp: lhr.audits["largest-contentful-paint"].numericValue,
  cls: lhr.audits["cumulative-layout-shift"].numericValue,
  tbt: lhr.audits["total-blocking-time"].numericValue,
  fcp: lhr.audits["first-contentful-paint"].numericValue,
});
const row = (label, f) =>
  `  ${label.padEnd(18)} ${String(f.score).padStart(5)} ${(f.lcp / 1000).toFixed(2).padStart(7)} s ` +
  `${f.cls.toFixed(3).padStart(7)} ${Math.round(f.tbt).toString().padStart(6)} ms ${(f.fcp / 1000).toFixed(2).padStart(7)} s`;
const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];

const first = reports[0].lhr;
console.log(`Lighthouse ${first.lighthouseVersion}, ${first.environment.hostUserAgent.match(/Chrome\/[\d.]+/)?.[0]}, ${first.finalDisplayedUrl}`);
console.log(`  ${"run".padEnd(18)} ${"score".padStart(5)} ${"LCP".padStart(9)} ${"CLS".padStart(7)} ${"TBT".padStart(9)} ${"FCP".padStart(9)}`);
const all = reports.map((report, n) => ({ ...figures(report), name: report.path.split("/").pop() }));
for (const f of all) console.log(row(f.name.replace(/\.json$/, ""), f));
for (const preset of [...new Set(all.map((f) => f.preset))]) {
  const runs = all.filter((f) => f.preset === preset);
  const m = Object.fromEntries(["score", "lcp", "cls", "tbt", "fcp"].map((k) => [k, median(runs.map((f) => f[k]))]));
  console.log(row(`${preset} median`, m));
}
// What Lighthouse found about the last run, or why it could not tell (an audit that failed).
const last = reports[reports.length - 1].lhr;
const finding = (id, describe) => {
  const audit = last.audits[id];
  if (!audit || audit.scoreDisplayMode === "error") return `not available (${audit?.errorMessage ?? "no such audit"})`;
  return describe(audit.details);
};
console.log(`  LCP element (last run): ${finding("largest-contentful-paint-element", (d) => d?.items?.[0]?.items?.[0]?.node?.snippet ?? "none")}`);
console.log(`  render-blocking (last run): ${finding("render-blocking-resources", (d) => (d?.items ?? []).map((i) => `${i.url} ${Math.round(i.wastedMs)} ms`).join(", ") || "none")}`);
