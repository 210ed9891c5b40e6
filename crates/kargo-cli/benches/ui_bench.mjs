// The UI benchmark's browser half (see benches/ui.rs): signs in, then
// measures the project page's server time (graph and Statistics views),
// first contentful paint and SSE update latency in Debian's Chromium;
// prints a table of medians.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const url = process.env.KARGO_URL;
const ns = process.env.KARGO_NS;
const token = process.env.KARGO_TOKEN;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const range = (xs) => `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-dev-shm-usage"] });
try {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
  ctx.setDefaultTimeout(30000);
  const page = await ctx.newPage();
  await page.goto(`${url}/ui/login`);
  await page.fill("input[name=token]", token);
  await page.click("form:has(input[name=token]) button");
  await page.waitForURL("**/ui");

  // Server: time until the page's HTML is complete (the browser's own
  // request timing: requestStart -> responseEnd), warm.
  const server = [];
  const fcp = [];
  for (let i = 0; i < 12; i++) {
    await page.goto(`${url}/ui/projects/${ns}`, { waitUntil: "load" });
    const t = await page.evaluate(() => new Promise((res) => {
      const n = performance.getEntriesByType("navigation")[0];
      new PerformanceObserver((list) => {
        const p = list.getEntries().find((e) => e.name === "first-contentful-paint");
        if (p) res({ server: n.responseEnd - n.requestStart, fcp: p.startTime });
      }).observe({ type: "paint", buffered: true });
      setTimeout(() => res({ server: n.responseEnd - n.requestStart, fcp: NaN }), 3000);
    }));
    if (i >= 2) { server.push(t.server); fcp.push(t.fcp); }
  }
  // The same for the Statistics view (the delivery statistics of every
  // Stage, computed over every Freight of the project on each render).
  const statsServer = [];
  for (let i = 0; i < 12; i++) {
    await page.goto(`${url}/ui/projects/${ns}?view=stats`, { waitUntil: "load" });
    const t = await page.evaluate(() => { const n = performance.getEntriesByType("navigation")[0]; return n.responseEnd - n.requestStart; });
    if (i >= 2) statsServer.push(t);
  }
  const statsRows = await page.locator("#stats-table tbody tr").count();
  await page.goto(`${url}/ui/projects/${ns}`, { waitUntil: "load" });
  const stages = await page.locator(".node.stage").count();
  const cards = await page.locator(".card").count();
  const total = await page.locator("#timeline .bar").innerText();

  // SSE: an alias written through the API, until the card shows it.
  const first = await page.locator(".card").first().getAttribute("data-freight");
  const sse = [];
  for (let i = 0; i < 10; i++) {
    const alias = `bench-${Date.now()}-${i}`;
    const waiter = page.evaluate((a) => new Promise((res) => {
      const t0 = performance.now();
      window.__t0 = t0;
      const obs = new MutationObserver(() => {
        if (document.getElementById("timeline")?.textContent.includes(a)) { obs.disconnect(); res(performance.now()); }
      });
      obs.observe(document.body, { subtree: true, childList: true, characterData: true });
    }), alias);
    const started = await page.evaluate(() => performance.now());
    const r = await page.request.fetch(`${url}/apis/kargo.akuity.io/v1alpha1/namespaces/${ns}/freights/${first}`, {
      method: "PATCH",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/merge-patch+json" },
      data: JSON.stringify({ metadata: { labels: { "kargo.akuity.io/alias": alias } }, alias }),
    });
    if (!r.ok()) throw new Error(`patch: ${r.status()} ${await r.text()}`);
    const seen = await waiter;
    sse.push(seen - started);
    await page.waitForTimeout(300);
  }
  const row = (what, xs, target) => console.log(`${what.padEnd(34)} ${median(xs).toFixed(1).padStart(7)} ms  (${range(xs)})  target < ${target} ms: ${(median(xs) / target).toFixed(2)}× of it, ${median(xs) < target ? "met" : "NOT met"}`);
  console.log(`project page: ${stages} Stages drawn, ${cards} Freight cards shown (${total.replace(/\s+/g, " ")})`);
  row("server render (HTML complete)", server, 50);
  console.log(`statistics view: ${statsRows} Stage rows`);
  row("server render, statistics view", statsServer, 50);
  row("first contentful paint", fcp, 500);
  row("API write -> DOM over SSE", sse, 200);
} finally {
  await browser.close();
}
