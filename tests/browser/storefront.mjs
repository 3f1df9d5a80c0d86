// The storefront as shoppers use it, in headless Chromium against the real Worker and origin.
// Started by tests/tests/storefront.rs, which sets up the shops and checks the database after.
//
// Environment: EDGE_PORT (the Worker under miniflare on 127.0.0.1), DEMO_DOMAIN and
// OTHER_DOMAIN (two shops), ALICE_TOKEN, BOB_TOKEN, CAROL_TOKEN (shoppers of the demo shop),
// ADMIN_TOKEN (its admin), SCREENSHOT_DIR (where the pictures go).
//
// The demo shop starts with CHAIR 10, SOFA 1, TABLE 5; the other shop with LAMP 3.
import { mkdir } from "node:fs/promises";
import path from "node:path";

import { launch, openPage, runSteps, waitForText } from "./browser.mjs";

const env = process.env;
const port = env.EDGE_PORT;
const demo = env.DEMO_DOMAIN;
const other = env.OTHER_DOMAIN;
const ORDER = (quantity, name) =>
  new RegExp(`^Order [0-9a-f-]{36} confirmed: ${quantity} × ${name}\\.$`);

const originOf = (domain) => `http://${domain}:${port}`;
const shopUrl = (domain, token) => `${originOf(domain)}/${token ? `#token=${token}` : ""}`;
const row = (page, sku) => page.locator(`li[data-sku="${sku}"]`);
const stockOf = (page, sku) => row(page, sku).locator(".item-stock");
const resultOf = (page, sku) => row(page, sku).locator(".item-result");

async function buy(page, sku, quantity) {
  await row(page, sku).locator("input").fill(String(quantity));
  await row(page, sku).locator("button").click();
}

/** Idempotency-Keys of the page's `POST /api/buy` requests, in order. */
function recordBuyKeys(page) {
  const keys = [];
  page.on("request", (request) => {
    if (request.method() === "POST" && request.url().endsWith("/api/buy")) {
      keys.push(request.headers()["idempotency-key"]);
    }
  });
  return keys;
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

const failures = [];
const browser = await launch([originOf(demo), originOf(other)]);
const pages = {};

const steps = [
  [
    "a page that loads asks for the inventory once, then polls a second later",
    async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const reads = [];
      page.on("request", (request) => {
        if (new URL(request.url()).pathname === "/api/inventory") reads.push(performance.now());
      });
      const firstAnswer = page.waitForResponse((r) => new URL(r.url()).pathname === "/api/inventory");
      await page.goto(shopUrl(demo));
      await firstAnswer;
      await page.waitForTimeout(500);
      assert(reads.length === 1, `${reads.length} inventory reads in the first moment, not 1`);
      await context.close();
    },
  ],
  [
    "the demo shop shows its name and items, and the sign-in link signs Alice in",
    async () => {
      pages.alice = await openPage(browser, shopUrl(demo, env.ALICE_TOKEN), failures);
      const alice = pages.alice;
      await waitForText(alice.locator("h1"), `Shop ${demo}`);
      assert((await alice.title()) === `Shop ${demo}`, "the title names the shop");
      await waitForText(stockOf(alice, "CHAIR"), "10 in stock");
      await waitForText(stockOf(alice, "SOFA"), "1 in stock");
      await waitForText(stockOf(alice, "TABLE"), "5 in stock");
      await waitForText(row(alice, "CHAIR").locator(".item-price"), "$100.00");
      await waitForText(row(alice, "CHAIR").locator("h2"), "Item CHAIR");
      assert(!alice.url().includes("#"), `the token stayed in the address bar: ${alice.url()}`);
      assert(await alice.evaluate(() => isSecureContext), "the shop runs as a secure context");
      await waitForText(alice.locator("#signed-in"), "Signed in as alice");
      // Marks this document: if the page ever reloads, the mark is gone.
      await alice.evaluate(() => {
        window.stillTheSameDocument = true;
      });
    },
  ],
  [
    "buying shows the confirmed order and the stock drops",
    async () => {
      await buy(pages.alice, "CHAIR", 2);
      await waitForText(resultOf(pages.alice, "CHAIR"), ORDER(2, "Item CHAIR"));
      await waitForText(stockOf(pages.alice, "CHAIR"), "8 in stock");
    },
  ],
  [
    "when another tab buys the last unit, every open tab shows Sold out without reloading",
    async () => {
      pages.bob = await openPage(browser, shopUrl(demo, env.BOB_TOKEN), failures);
      pages.guest = await openPage(browser, shopUrl(demo), failures);
      await waitForText(stockOf(pages.bob, "SOFA"), "1 in stock");
      await waitForText(stockOf(pages.guest, "SOFA"), "1 in stock");
      await buy(pages.bob, "SOFA", 1);
      await waitForText(resultOf(pages.bob, "SOFA"), ORDER(1, "Item SOFA"));
      // Signed in: pushed by the event stream, within a second of the purchase.
      const confirmedAt = performance.now();
      await waitForText(stockOf(pages.alice, "SOFA"), "Sold out", 1000);
      const latency = Math.round(performance.now() - confirmedAt);
      console.log(`# Alice's tab showed Sold out ${latency} ms after Bob's order was shown`);
      await waitForText(stockOf(pages.bob, "SOFA"), "Sold out", 1000);
      // A guest polls every second (and the edge may cache reads for one).
      await waitForText(stockOf(pages.guest, "SOFA"), "Sold out", 3000);
      assert(
        await row(pages.alice, "SOFA").locator("button").isDisabled(),
        "a sold-out item cannot be bought",
      );
      assert(
        await pages.alice.evaluate(() => window.stillTheSameDocument === true),
        "Alice's page was reloaded",
      );
    },
  ],
  [
    "asking for more than is left is explained",
    async () => {
      await buy(pages.alice, "TABLE", 6);
      await waitForText(resultOf(pages.alice, "TABLE"), "Not enough stock: only 5 left.");
    },
  ],
  [
    "a double click buys once",
    async () => {
      pages.carol = await openPage(browser, shopUrl(demo, env.CAROL_TOKEN), failures);
      const keys = recordBuyKeys(pages.carol);
      await waitForText(stockOf(pages.carol, "TABLE"), "5 in stock");
      await row(pages.carol, "TABLE").locator("button").dblclick();
      await waitForText(resultOf(pages.carol, "TABLE"), ORDER(1, "Item TABLE"));
      await waitForText(stockOf(pages.carol, "TABLE"), "4 in stock");
      assert(keys.length === 1, `a double click sent ${keys.length} buys`);
    },
  ],
  [
    "a click retried after a busy answer and a network error keeps its Idempotency-Key",
    async () => {
      const carol = pages.carol;
      const keys = recordBuyKeys(carol);
      let calls = 0;
      await carol.route("**/api/buy", (route) => {
        calls += 1;
        if (calls === 1) {
          return route.fulfill({
            status: 409,
            headers: { "content-type": "application/problem+json", "retry-after": "0" },
            body: JSON.stringify({
              type: "https://furnitureops.dev/problems/idempotency-key-in-flight",
              title: "A request with this Idempotency-Key is still running",
              status: 409,
              detail: "retry shortly",
            }),
          });
        }
        if (calls === 2) return route.abort("connectionreset");
        return route.continue();
      });
      await buy(carol, "CHAIR", 1);
      await waitForText(resultOf(carol, "CHAIR"), ORDER(1, "Item CHAIR"));
      await carol.unroute("**/api/buy");
      assert(keys.length === 3, `expected 3 attempts, saw ${keys.length}`);
      assert(new Set(keys).size === 1, `the attempts used different keys: ${keys.join(", ")}`);
    },
  ],
  [
    "a rate-limited buy says how long to wait",
    async () => {
      const carol = pages.carol;
      await carol.route("**/api/buy", (route) =>
        route.fulfill({
          status: 429,
          headers: { "content-type": "application/problem+json", "retry-after": "7" },
          body: JSON.stringify({
            type: "https://furnitureops.dev/problems/rate-limited",
            title: "Too many requests",
            status: 429,
            detail: "too many write requests; try again in 7 s",
          }),
        }),
      );
      await buy(carol, "CHAIR", 1);
      await waitForText(
        resultOf(carol, "CHAIR"),
        "Too many requests: please wait 7 s and try again.",
      );
      await carol.unroute("**/api/buy");
    },
  ],
  [
    "a guest sees the items and how to sign in, and Buy asks them to sign in",
    async () => {
      const guest = pages.guest;
      await waitForText(guest.locator("#signed-out"), "buying needs you to sign in");
      assert(await guest.locator("#signed-in").isHidden(), "a guest is not signed in");
      await buy(guest, "CHAIR", 1);
      await waitForText(resultOf(guest, "CHAIR"), "Please sign in to buy");
    },
  ],
  [
    "another shop shows only its own name and items",
    async () => {
      pages.other = await openPage(browser, shopUrl(other), failures);
      const page = pages.other;
      await waitForText(page.locator("h1"), `Shop ${other}`);
      await waitForText(stockOf(page, "LAMP"), "3 in stock");
      const expected = Number(env.OTHER_ITEMS);
      const listed = () => page.locator("li[data-sku]").count();
      for (let tries = 0; (await listed()) < expected && tries < 50; tries += 1) {
        await page.waitForTimeout(100);
      }
      const skus = await page.locator("li[data-sku]").evaluateAll((rows) =>
        rows.map((r) => r.dataset.sku),
      );
      assert(skus.length === expected, `the other shop lists ${skus.length} of ${expected} items`);
      assert(skus.includes("LAMP") && skus.includes("ZZ-SHELF-249"), "every page is shown");
      assert(skus.every((sku) => sku === "LAMP" || sku.startsWith("ZZ-SHELF-")), `${skus}`);
      const demoText = await pages.alice.locator("main").textContent();
      assert(!demoText.includes("LAMP"), "the demo shop shows the other shop's item");
    },
  ],
  [
    "a sign-in link never silently replaces the tab's session",
    async () => {
      const page = await openPage(browser, shopUrl(demo, env.ALICE_TOKEN), failures);
      await waitForText(page.locator("#shopper"), "alice");
      // Someone sends alice a link that would sign her tab in as bob.
      const bobsLink = async () => {
        await page.goto(shopUrl(demo, env.BOB_TOKEN));
        await page.reload();
        await waitForText(page.locator("#switch-to"), "bob");
      };
      await bobsLink();
      assert(!(await page.locator("#switch-session").isHidden()), "she is asked first");
      assert((await page.locator("#shopper").textContent()) === "alice", "still alice");
      await page.locator("#switch-keep").click();
      await page.reload();
      await waitForText(page.locator("#shopper"), "alice");
      assert(await page.locator("#switch-session").isHidden(), "kept, and not asked again");
      await bobsLink();
      await page.locator("#switch-confirm").click();
      await waitForText(page.locator("#shopper"), "bob");
      await page.context().close();
    },
  ],
  [
    "screenshots of both shops are saved",
    async () => {
      await mkdir(env.SCREENSHOT_DIR, { recursive: true });
      await pages.alice.screenshot({
        path: path.join(env.SCREENSHOT_DIR, "storefront.png"),
        fullPage: true,
      });
      await pages.other.screenshot({
        path: path.join(env.SCREENSHOT_DIR, "other-shop.png"),
        fullPage: true,
      });
    },
  ],
  [
    "an item the owner adds appears, and goes when the owner removes it",
    async () => {
      const alice = pages.alice;
      const admin = (method, path, body) =>
        alice.evaluate(
          async ([method, path, body, token]) => {
            const response = await fetch(path, {
              method,
              headers: {
                authorization: `Bearer ${token}`,
                "content-type": "application/json",
                "idempotency-key": crypto.randomUUID(),
              },
              body: body && JSON.stringify(body),
            });
            return { status: response.status, body: await response.text() };
          },
          [method, path, body, env.ADMIN_TOKEN],
        );
      const added = await admin("POST", "/api/admin/items", {
        sku: "STOOL",
        name: "Item STOOL",
        price_cents: 5000,
        stock: 2,
      });
      assert(added.status === 201, `adding an item answered ${added.status}`);
      await waitForText(stockOf(alice, "STOOL"), "2 in stock");
      const removed = await admin("DELETE", `/api/admin/items/${JSON.parse(added.body).id}`);
      assert(removed.status === 204, `removing the item answered ${removed.status}`);
      await row(alice, "STOOL").waitFor({ state: "detached", timeout: 15_000 });
      const cards = await alice.locator("li.item").count();
      assert(cards === 3, `the other items' cards stay: ${cards} cards`);
    },
  ],
  [
    "paused sales are explained",
    async () => {
      const alice = pages.alice;
      const paused = await alice.evaluate(async (token) => {
        const response = await fetch("/api/admin/kill-switch", {
          method: "PUT",
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/json",
            "idempotency-key": crypto.randomUUID(),
          },
          body: JSON.stringify({ engaged: true, reason: "stocktaking" }),
        });
        return response.status;
      }, env.ADMIN_TOKEN);
      assert(paused === 200, `engaging the kill switch answered ${paused}`);
      await buy(alice, "CHAIR", 1);
      await waitForText(resultOf(alice, "CHAIR"), /^Sales are paused right now \(.*stocktaking.*\)/);
    },
  ],
];

const passed = await runSteps(steps, failures);
await browser.close();
process.exit(passed ? 0 : 1);
