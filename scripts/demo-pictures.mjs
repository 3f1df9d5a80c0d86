// Gives every item of the demo shop that has no picture one, drawn here (no download): the
// piece of furniture its sku names (a chair, a sofa, a lamp...) in a colour of the item's own on
// a soft gradient, as PNG at 1280, 640 and 320 px wide, uploaded through the Worker as an admin
// like the console does (the widest is the picture, the others its sizes).
//
//   node scripts/demo-pictures.mjs <edge url> <shop domain> <admin token>
//
// scripts/dev runs it once the Worker answers. Items that already have a picture are left as
// they are, so running it again adds nothing.
import { deflateSync } from "node:zlib";
import { randomUUID } from "node:crypto";
import http from "node:http";

const [edge, domain, token] = process.argv.slice(2);
if (!edge || !domain || !token) {
  console.error("usage: node scripts/demo-pictures.mjs <edge url> <shop domain> <admin token>");
  process.exit(2);
}
const WIDTHS = [1280, 640, 320];

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(kind, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(kind, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}
function png(width, height, pixel) {
  const raw = Buffer.alloc(height * (width * 3 + 1));
  for (let y = 0; y < height; y += 1) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x += 1) raw.set(pixel(x / width, y / height), row + 1 + x * 3);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

// Boxes ([x0, y0, x1, y1], fractions of the picture) that draw each kind of furniture.
const SHAPES = {
  // back, seat, two legs
  CHAIR: [[0.36, 0.2, 0.42, 0.62], [0.36, 0.55, 0.66, 0.62], [0.37, 0.62, 0.4, 0.85], [0.62, 0.62, 0.65, 0.85]],
  // seat, two long legs, a footrest
  STOOL: [[0.38, 0.4, 0.62, 0.45], [0.4, 0.45, 0.43, 0.85], [0.57, 0.45, 0.6, 0.85], [0.4, 0.68, 0.6, 0.7]],
  // top, two legs
  TABLE: [[0.2, 0.45, 0.8, 0.52], [0.24, 0.52, 0.28, 0.85], [0.72, 0.52, 0.76, 0.85]],
  // top, a drawer block, a leg
  DESK: [[0.2, 0.42, 0.8, 0.47], [0.56, 0.47, 0.78, 0.66], [0.22, 0.47, 0.25, 0.85], [0.75, 0.66, 0.78, 0.85]],
  // body, two short legs
  SIDEBOARD: [[0.18, 0.4, 0.82, 0.76], [0.21, 0.76, 0.24, 0.85], [0.76, 0.76, 0.79, 0.85]],
  // shade, stem, foot
  LAMP: [[0.4, 0.18, 0.6, 0.34], [0.49, 0.34, 0.51, 0.8], [0.42, 0.8, 0.58, 0.84]],
  // back, seat, two arms, two feet
  SOFA: [[0.2, 0.38, 0.8, 0.6], [0.2, 0.6, 0.8, 0.78], [0.15, 0.5, 0.22, 0.8], [0.78, 0.5, 0.85, 0.8], [0.18, 0.8, 0.21, 0.85], [0.79, 0.8, 0.82, 0.85]],
  // two uprights, four shelves
  SHELF: [[0.32, 0.12, 0.35, 0.85], [0.65, 0.12, 0.68, 0.85], [0.32, 0.25, 0.68, 0.28], [0.32, 0.45, 0.68, 0.48], [0.32, 0.65, 0.68, 0.68], [0.32, 0.82, 0.68, 0.85]],
  // a rug on the floor, with a stripe
  RUG: [[0.12, 0.7, 0.88, 0.92], [0.12, 0.79, 0.88, 0.82]],
};

// A colour from the item's name, and the furniture its sku names (`CHAIR-...`, `LAMP-...`).
function drawing(item) {
  let hash = 0;
  for (const ch of item.sku + item.name) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  const hue = (hash % 360) / 360;
  const rgb = (h, s, l) => {
    const f = (n) => {
      const k = (n + h * 12) % 12;
      const a = s * Math.min(l, 1 - l);
      return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
    };
    return [f(0), f(8), f(4)];
  };
  const wood = rgb(hue, 0.45, 0.42);
  const shade = rgb(hue, 0.3, 0.3);
  const inBox = (x, y, [x0, y0, x1, y1]) => x >= x0 && x <= x1 && y >= y0 && y <= y1;
  const shapes = SHAPES[item.sku.split("-")[0]] ?? Object.values(SHAPES)[hash % 3];
  return (x, y) => {
    if (shapes.some((box) => inBox(x, y, box))) return y > 0.6 ? shade : wood;
    if (y > 0.85) return rgb(hue, 0.15, 0.82);
    return rgb(hue, 0.25, 0.93 - y * 0.08);
  };
}

// One request to the Worker as the shop's domain (node:http, which lets the Host be set).
function request(method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const sent = http.request(`${edge}${path}`, { method, headers: { host: domain, ...headers } }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("end", () =>
        resolve({ status: response.statusCode, data: JSON.parse(Buffer.concat(chunks).toString() || "null") }),
      );
    });
    sent.on("error", reject);
    sent.end(body);
  });
}

async function upload(itemId, bytes, query) {
  const path = `/api/admin/items/${itemId}/images?${new URLSearchParams(query)}`;
  const headers = {
    authorization: `Bearer ${token}`,
    "idempotency-key": randomUUID(),
    "content-type": "image/png",
    "content-length": bytes.length,
  };
  const { status, data } = await request("POST", path, headers, bytes);
  if (status !== 201) throw new Error(`${itemId}: ${status} ${data?.detail}`);
  return data;
}

const { data: inventory } = await request("GET", "/api/inventory?limit=200", {});
const { items } = inventory;
let added = 0;
for (const item of items.filter((item) => !item.images?.length)) {
  const pixel = drawing(item);
  const alt = `${item.name}, drawn in the shop's colours`;
  let picture = null;
  for (const width of WIDTHS) {
    const bytes = png(width, (width * 3) / 4, pixel);
    const query = picture ? { alt, size_of: picture.id } : { alt };
    const uploaded = await upload(item.id, bytes, query);
    picture ??= uploaded;
  }
  added += 1;
}
console.log(`demo pictures: ${added} items given a picture, ${items.length - added} had one`);
