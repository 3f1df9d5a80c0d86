// Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by playwright-core
// (which never downloads a browser of its own), with shop domains resolved to this machine so
// pages are visited by their real host names, exactly as a shopper's browser sends them.
import { chromium } from "playwright-core";

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
  "--disable-quic",
];

/**
 * Starts Chromium with the host of every one of `origins` (like `http://demo.shop.test:8080`)
 * resolving to 127.0.0.1. The origins count as secure, as the shops' https origins are in
 * production, so pages get the same APIs (crypto.randomUUID among them) they get there.
 */
export async function launch(origins) {
  const rules = origins.map((origin) => `MAP ${new URL(origin).hostname} 127.0.0.1`).join(", ");
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      ...FLAGS,
      `--host-resolver-rules=${rules}`,
      `--unsafely-treat-insecure-origin-as-secure=${origins.join(",")}`,
    ],
  });
}

/**
 * Opens `url` in a fresh browser context (its own sessionStorage, like a separate shopper) and
 * fails the test on any script error or console error on the page (a CSP violation included).
 * `viewport` defaults to a laptop's.
 */
export async function openPage(browser, url, failures, viewport = { width: 1100, height: 760 }) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  page.on("pageerror", (err) => failures.push(`${url}: script error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && !expectedConsoleError(msg.text())) {
      failures.push(`${url}: console error: ${msg.text()}`);
    }
  });
  await page.goto(url);
  return page;
}

// Chromium logs every 4xx/5xx fetch answer, and every dropped connection, as a console error;
// the tests cause both on purpose and the page handles them, so they are not faults.
function expectedConsoleError(text) {
  return /Failed to load resource: (the server responded with a status of [45]\d\d|net::ERR_CONNECTION_RESET)/.test(
    text,
  );
}

/** Waits until `locator`'s text matches `expected` (a RegExp, or a substring). */
export async function waitForText(locator, expected, timeout = 15_000) {
  try {
    await locator.filter({ hasText: expected }).waitFor({ timeout });
  } catch {
    const now = await locator.textContent({ timeout: 1000 }).catch(() => "(no element)");
    throw new Error(`expected ${expected} within ${timeout} ms, but the text is "${now?.trim()}"`);
  }
}

/** Waits until `read()` answers something `accept` takes, and answers it. */
export async function eventually(read, accept, what, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await read();
    if (accept(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what}: still ${JSON.stringify(last)} after ${timeout} ms`);
}

/** Runs named steps in order, printing TAP lines; stops at the first failure. */
export async function runSteps(steps, failures) {
  console.log(`1..${steps.length}`);
  let number = 0;
  for (const [name, step] of steps) {
    number += 1;
    try {
      await step();
      if (failures.length) throw new Error(failures.join("\n"));
      console.log(`ok ${number} - ${name}`);
    } catch (err) {
      console.log(`not ok ${number} - ${name}\n  ${String(err.stack ?? err).replace(/\n/g, "\n  ")}`);
      return false;
    }
  }
  return true;
}
