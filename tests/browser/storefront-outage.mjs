// The storefront while the origin is down, in headless Chromium against the real Worker: the
// stock stays on screen, marked with its age, a purchase is explained instead of hanging, and
// everything comes back by itself once the origin does. Started by
// tests/tests/storefront_outage.rs, which checks the database after.
//
// Environment: EDGE_PORT (the Worker under miniflare on 127.0.0.1), DOMAIN (the shop, which
// starts with CHAIR 10), ALICE_TOKEN (a shopper), LINK_URL (POST /freeze, /thaw, /kill and
// /revive break the link between the Worker and the origin), SCREENSHOT_DIR.
import { mkdir } from "node:fs/promises";
import path from "node:path";

import { launch, openPage, runSteps, waitForText } from "./browser.mjs";

const env = process.env;
const shopOrigin = `http://${env.DOMAIN}:${env.EDGE_PORT}`;
const STALE = /^Stock as of \d+ s ago: the shop is catching up\.$/;
const CATCHING_UP = /^The shop is catching up: please press Buy again in \d+ s/;
const ORDER = /^Order [0-9a-f-]{36} confirmed: 1 × Item CHAIR\.$/;

const row = (page, sku) => page.locator(`li[data-sku="${sku}"]`);
const stockOf = (page, sku) => row(page, sku).locator(".item-stock");
const resultOf = (page, sku) => row(page, sku).locator(".item-result");

async function link(fault) {
  const response = await fetch(`${env.LINK_URL}/${fault}`, { method: "POST" });
  if (!response.ok) throw new Error(`${fault}: HTTP ${response.status}`);
}

async function screenshot(page, name) {
  await mkdir(env.SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(env.SCREENSHOT_DIR, name), fullPage: true });
}

async function noticeGone(page) {
  await page.locator("#notice").waitFor({ state: "hidden", timeout: 20_000 });
}

const failures = [];
const browser = await launch([shopOrigin]);
const pages = {};

const steps = [
  [
    "a guest and a signed-in shopper see live stock",
    async () => {
      pages.guest = await openPage(browser, `${shopOrigin}/`, failures);
      pages.alice = await openPage(browser, `${shopOrigin}/#token=${env.ALICE_TOKEN}`, failures);
      for (const page of [pages.guest, pages.alice]) {
        await waitForText(stockOf(page, "CHAIR"), "10 in stock");
      }
      await pages.alice.waitForFunction(() => shop.live, null, { timeout: 15_000 });
    },
  ],
  [
    "with the origin frozen, both keep the stock and say how old it is",
    async () => {
      await link("freeze");
      await waitForText(pages.guest.locator("#notice"), STALE, 10_000);
      // The signed-in page notices within its live check that the origin stopped talking.
      await waitForText(pages.alice.locator("#notice"), STALE, 20_000);
      for (const page of [pages.guest, pages.alice]) {
        await waitForText(stockOf(page, "CHAIR"), "10 in stock", 1000);
      }
      await screenshot(pages.alice, "storefront-stale.png");
    },
  ],
  [
    "buying while the origin is frozen explains that the shop is catching up",
    async () => {
      await row(pages.alice, "CHAIR").locator("button").click();
      await waitForText(resultOf(pages.alice, "CHAIR"), CATCHING_UP, 30_000);
      await screenshot(pages.alice, "storefront-catching-up.png");
    },
  ],
  [
    "once the origin is back, fresh stock and the event stream return by themselves",
    async () => {
      await link("thaw");
      await noticeGone(pages.guest);
      await noticeGone(pages.alice);
      await pages.alice.waitForFunction(() => shop.live, null, { timeout: 30_000 });
      const stale = await pages.alice.evaluate(() => document.body.classList.contains("stale"));
      if (stale) throw new Error("the stock is still marked stale");
    },
  ],
  [
    "pressing Buy again places the order once",
    async () => {
      await row(pages.alice, "CHAIR").locator("button").click();
      await waitForText(resultOf(pages.alice, "CHAIR"), ORDER, 15_000);
      await waitForText(stockOf(pages.alice, "CHAIR"), "9 in stock");
      await waitForText(stockOf(pages.guest, "CHAIR"), "9 in stock", 5_000);
    },
  ],
  [
    "with the origin killed the guest still sees stock, and it returns after a restart",
    async () => {
      await link("kill");
      await waitForText(pages.guest.locator("#notice"), STALE, 10_000);
      await waitForText(stockOf(pages.guest, "CHAIR"), "9 in stock", 1000);
      await screenshot(pages.guest, "storefront-stale-guest.png");
      await link("revive");
      await noticeGone(pages.guest);
      await screenshot(pages.guest, "storefront-recovered.png");
    },
  ],
];

const passed = await runSteps(steps, failures);
await browser.close();
process.exit(passed ? 0 : 1);
