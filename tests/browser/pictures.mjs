// A shop owner adds pictures to an item in the console, in headless Chromium against the real
// Worker and origin, and a shopper sees them on the storefront. Started by
// tests/tests/suite/picture_console.rs, which checks the database and the bucket after.
//
// Environment: EDGE_PORT (the Worker under miniflare on 127.0.0.1), DEMO_DOMAIN, ADMIN_TOKEN
// (the demo shop's owner), PICTURE_FILE (a 1600x1200 PNG on disk), SCREENSHOT_DIR.
//
// The demo shop holds CHAIR and SOFA, with no pictures.
import { mkdir } from "node:fs/promises";
import path from "node:path";

import { launch, openPage, runSteps, waitForText } from "./browser.mjs";

const env = process.env;
const port = env.EDGE_PORT;
const demo = env.DEMO_DOMAIN;
const originOf = (domain) => `http://${domain}:${port}`;

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

const failures = [];
const browser = await launch([originOf(demo)]);
const owner = await openPage(browser, `${originOf(demo)}/admin#token=${env.ADMIN_TOKEN}`, failures);
const pictureIds = () =>
  owner.locator("#picture-list li").evaluateAll((rows) => rows.map((row) => row.dataset.pictureId));

const steps = [
  ["the owner picks the chair and uploads a picture from the file picker", async () => {
    await owner.locator("#picture-item option").first().waitFor({ state: "attached" });
    const chair = await owner.locator("#picture-item option", { hasText: "CHAIR" }).getAttribute("value");
    await owner.selectOption("#picture-item", chair);
    await owner.fill("#add-pictures input[name=alt]", "The chair from the front");
    await owner.setInputFiles("#add-pictures input[name=files]", env.PICTURE_FILE);
    await owner.click("#add-pictures button[type=submit]");
    await waitForText(owner.locator("#picture-uploads .upload-state"), "Added.", 30_000);
    const bar = await owner.locator("#picture-uploads progress").first().evaluate((p) => p.value);
    assert(bar === 1, `the progress bar ends at ${bar}`);
    await owner.locator("#picture-list li").first().waitFor();
    await owner.waitForFunction(() => {
      const img = document.querySelector("#picture-list img");
      return img && img.complete && img.naturalWidth > 0;
    });
  }],
  ["a second picture is dropped on the drop zone", async () => {
    await owner.fill("#add-pictures input[name=alt]", "The chair from the side");
    await owner.evaluate(async () => {
      const canvas = document.createElement("canvas");
      canvas.width = 900;
      canvas.height = 600;
      const context = canvas.getContext("2d");
      context.fillStyle = "#6b4f2a";
      context.fillRect(0, 0, 900, 600);
      context.fillStyle = "#e9dcc3";
      context.fillRect(200, 150, 500, 300);
      const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
      const transfer = new DataTransfer();
      transfer.items.add(new File([blob], "side.png", { type: "image/png" }));
      const zone = document.getElementById("picture-drop");
      zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
    });
    await owner.locator("#picture-list li").nth(1).waitFor({ timeout: 30_000 });
    const states = await owner.locator("#picture-uploads .upload-state").allTextContents();
    assert(states.length === 2 && states.every((s) => s === "Added."), `uploads: ${states}`);
  }],
  ["the owner puts the second picture first, then removes the other", async () => {
    const [first, second] = await pictureIds();
    await owner.locator("#picture-list li").nth(1).locator(".earlier").click();
    await owner.waitForFunction(
      (id) => document.querySelector("#picture-list li")?.dataset.pictureId === id,
      second,
    );
    await owner.locator("#picture-list li").nth(1).locator(".remove").click();
    await owner.waitForFunction(() => document.querySelectorAll("#picture-list li").length === 1);
    const left = await pictureIds();
    assert(left.length === 1 && left[0] === second && left[0] !== first, `left: ${left}`);
  }],
  ["a shopper sees the picture on the storefront, sized and not shifting", async () => {
    const shop = await openPage(browser, `${originOf(demo)}/`, failures, { width: 1100, height: 760 });
    const picture = shop.locator(".item[data-sku=CHAIR] .item-picture");
    await picture.waitFor();
    await shop.waitForFunction(() => {
      const img = document.querySelector(".item[data-sku=CHAIR] .item-picture");
      return img && img.complete && img.naturalWidth > 0;
    });
    const seen = await picture.evaluate((img) => ({
      alt: img.alt,
      srcset: img.srcset,
      sizes: img.sizes,
      width: img.getAttribute("width"),
      height: img.getAttribute("height"),
      loading: img.loading,
    }));
    assert(seen.alt === "The chair from the side", `alt: ${seen.alt}`);
    const widths = seen.srcset.split(",").map((candidate) => candidate.trim().split(" ")[1]);
    assert(widths.join(" ") === "320w 640w 900w", `srcset of the 900 px picture: ${seen.srcset}`);
    assert(seen.width === "900" && seen.height === "600", `width/height: ${seen.width}x${seen.height}`);
    assert(seen.sizes.length > 0, "sizes is set");
    const sofa = await shop.locator(".item[data-sku=SOFA] .item-picture").evaluate((img) => img.hidden);
    assert(sofa, "an item without pictures shows none");
    await mkdir(env.SCREENSHOT_DIR, { recursive: true });
    await shop.screenshot({ path: path.join(env.SCREENSHOT_DIR, "storefront-pictures.png") });
    await owner.screenshot({ path: path.join(env.SCREENSHOT_DIR, "console-pictures.png"), fullPage: true });
  }],
];

const passed = await runSteps(steps, failures);
await browser.close();
process.exit(passed ? 0 : 1);
