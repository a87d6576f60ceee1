// End-to-end flows in headless Chromium (Debian's /usr/bin/chromium), driven with
// playwright-core, against the demo example served under /ops/jobs.
//
//   cargo build --all-features --example demo --example oidc_provider && node tests/browser/run.mjs
//
// (`scripts/test` does this, with everything else CI runs.) The demo and the provider must be
// built with the `oidc` feature: the suite signs in through the provider.
//
// Playwright starts Chromium with a fresh temporary profile (its own --user-data-dir).
// Fails on any failed check, console error or CSP violation. Screenshots of every page at
// desktop and phone widths, light and dark, go to target/browser-artifacts/ (not committed).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { startThirdPartyOp } from "./third_party_op.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const targetDir = process.env.CARGO_TARGET_DIR || join(root, "target");
const demoBin = join(targetDir, "debug", "examples", "demo");
const providerBin = join(targetDir, "debug", "examples", "oidc_provider");
for (const [bin, name] of [[demoBin, "demo"], [providerBin, "oidc_provider"]]) {
  if (!existsSync(bin)) {
    console.error(`${bin} is missing: build it with\n  cargo build --all-features --example demo --example oidc_provider`);
    process.exit(1);
  }
}
const artifacts = join(targetDir, "browser-artifacts");
mkdirSync(artifacts, { recursive: true });
const axeSource = readFileSync(join(root, "tests", "browser", "node_modules", "axe-core", "axe.min.js"), "utf8");

const PREFIX = "/ops/jobs";
const PASSWORD = "browser-password";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

async function waitFor(url, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch (_) { /* not up yet */ }
    if (demoExited) throw new Error(`${demoExited} before ${url} answered`);
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The test OpenID provider (examples/oidc_provider.rs): it prints its issuer URL.
const provider = spawn(providerBin, [], {
  env: { ...process.env, OIDC_CLIENT_ID: "taskdeck", OIDC_CLIENT_SECRET: "browser-client-secret" },
  stdio: ["ignore", "pipe", "inherit"],
});
process.on("exit", () => provider.kill("SIGTERM"));
const issuer = await new Promise((resolve, reject) => {
  let out = "";
  const timer = setTimeout(() => reject(new Error("the OIDC provider did not start within 30 s")), 30_000);
  provider.stdout.on("data", (d) => {
    out += d;
    const m = out.match(/issuer (\S+)/);
    if (m) { clearTimeout(timer); resolve(m[1]); }
  });
  provider.on("exit", (code) => reject(new Error(`the OIDC provider exited (${code})`)));
});

const port = await freePort();
const base = `http://127.0.0.1:${port}${PREFIX}`;
const demo = spawn(demoBin, [], {
  env: {
    ...process.env,
    TASKDECK_ADDR: `127.0.0.1:${port}`,
    TASKDECK_PREFIX: PREFIX,
    TASKDECK_DEMO_USER: "admin",
    TASKDECK_DEMO_PASSWORD: PASSWORD,
    TASKDECK_OIDC_ISSUER: issuer,
    TASKDECK_OIDC_CLIENT_ID: "taskdeck",
    TASKDECK_OIDC_CLIENT_SECRET: "browser-client-secret",
    TASKDECK_OIDC_LABEL: "Sign in with Test ID",
    TASKDECK_SIDEBAR_COLOR: "#1e1b4b",
    TASKDECK_LOGO_FILE: join(root, "tests", "browser", "logo.svg"),
    RUST_LOG: "error",
  },
  // The demo's sample jobs fail and panic on purpose; their noise is not the test's, so it is
  // kept (the last 64 KiB) and shown only when something fails.
  stdio: ["ignore", "pipe", "pipe"],
});
let demoOutput = "";
const keepOutput = (d) => {
  demoOutput = (demoOutput + d).slice(-65536);
};
demo.stdout.on("data", keepOutput);
demo.stderr.on("data", keepOutput);
let demoExited = null;
demo.on("exit", (code, signal) => {
  demoExited = `the demo exited (${signal || `code ${code}`})`;
});
function showDemoOutput() {
  console.log(`\n--- the demo's output (last 64 KiB) ---\n${demoOutput.trimEnd()}\n--- end of the demo's output ---`);
}
process.on("exit", () => demo.kill("SIGTERM"));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
  ],
});

const problems = [];
// What the third-party provider check starts, stopped at the end.
const thirdParty = [];
let passed = 0;
// Chromium logs a console error for every 4xx document; the flows provoke a few on purpose
// (a wrong password: 401; an invalid form: 400). Each is allowed once, announced beforehand.
let expectedLoadErrors = 0;
async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (e) {
    problems.push(`${name}: ${e.message}`);
    console.log(`not ok - ${name}\n  ${e.message.split("\n").join("\n  ")}`);
  }
}

/** A page that records console errors, page errors and CSP violations. */
async function newPage(context, label) {
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (expectedLoadErrors > 0 && /^Failed to load resource: the server responded with a status of 40[01]/.test(m.text())) {
      expectedLoadErrors -= 1;
      return;
    }
    problems.push(`${label}: console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`${label}: page error: ${e.message}`));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return page;
}

async function axe(page, what) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
  });
  assert.deepEqual(result, [], `accessibility violations on ${what}`);
}

async function login(page) {
  await page.goto(`${base}/tasks`);
  await page.fill("#username", "admin");
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForURL(`${base}/tasks`), page.click("button[type=submit]")]);
}

try {
  await waitFor(`${base}/health`, 60_000);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await newPage(context, "main");

  await check("the sign-in page: password form, SSO button, branding; screenshots and accessibility", async () => {
    const anon = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await newPage(anon, "login");
    for (const scheme of ["light", "dark"]) {
      for (const [device, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
        await p.setViewportSize(viewport);
        await p.emulateMedia({ colorScheme: scheme });
        await p.goto(`${base}/login`);
        await p.getByRole("link", { name: "Sign in with Test ID" }).waitFor();
        await p.locator("#password").waitFor();
        await p.getByText("Sample tasks that report").waitFor();
        assert.match(await p.locator(".brand img").getAttribute("src"), /\/assets\/logo\?v=[0-9a-f]{16}$/);
        await p.screenshot({ path: join(artifacts, `login-${device}-${scheme}.png`), fullPage: true });
        if (device === "desktop") await axe(p, `login (${scheme})`);
      }
    }
    await anon.close();
  });

  await check("single sign-on through the OpenID provider, under the prefix, and out again", async () => {
    const sso = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await newPage(sso, "sso");
    await p.goto(`${base}/runs?status=failures`);
    assert.ok(p.url().startsWith(`${base}/login?next=`), p.url());
    await Promise.all([
      p.waitForURL(`${base}/runs?status=failures`),
      p.getByRole("link", { name: "Sign in with Test ID" }).click(),
    ]);
    await p.getByText("Olive Operator").waitFor();
    assert.match(await p.locator(".user").textContent(), /operator/);
    // An operator may run tasks, not edit them.
    await p.goto(`${base}/tasks/heartbeat`);
    assert.equal(await p.locator("a.btn:has-text('Edit')").count(), 0, "no Edit for an operator");
    await p.locator(".toolbar button:has-text('Run')").first().waitFor();
    // The demo narrows operators: the partner webhook is for admins alone (no buttons, 403),
    // and its token is hidden.
    await p.goto(`${base}/tasks/partner-webhook`);
    assert.equal(await p.locator(".toolbar button").count(), 0, "no actions on the partner webhook");
    assert.match(await p.locator("pre.code").textContent(), /"token": "••••"/);
    await p.getByText("1 value is shown as ••••").waitFor();
    const refused = await p.request.post(`${base}/tasks/partner-webhook/run`, {
      form: { csrf: await p.locator("input[name=csrf]").first().getAttribute("value") },
      headers: { "sec-fetch-site": "same-origin", origin: new URL(base).origin },
      maxRedirects: 0,
    });
    assert.equal(refused.status(), 403, await refused.text());
    await p.click(".user-menu > summary");
    await Promise.all([p.waitForURL(`${issuer}/logout?**`), p.click("button:has-text('Sign out')")]);
    await p.getByText("Signed out at the provider").waitFor();
    await p.goto(`${base}/tasks`);
    assert.ok(p.url().startsWith(`${base}/login`), `signed out here too: ${p.url()}`);
    await sso.close();
  });

  await check("sign in: wrong password, then right, lands on next", async () => {
    await page.goto(`${base}/tasks?q=report`);
    assert.ok(page.url().startsWith(`${base}/login?next=`), page.url());
    await page.fill("#username", "admin");
    await page.fill("#password", "wrong");
    expectedLoadErrors += 1;
    await page.click("button[type=submit]");
    await page.getByText("Wrong username or password.").waitFor();
    await page.fill("#password", PASSWORD);
    await Promise.all([page.waitForURL(`${base}/tasks?q=report`), page.click("button[type=submit]")]);
    const rows = await page.locator("table.tasks tbody tr").count();
    assert.ok(rows >= 3, `search shows report tasks, got ${rows} rows`);
  });

  await check("search and filter the tasks table", async () => {
    await page.goto(`${base}/tasks`);
    await page.fill("input[name=q]", "cleanup");
    await page.selectOption("select[name=state]", "paused");
    await Promise.all([page.waitForURL(/state=paused/), page.click("form.filters button[type=submit]")]);
    const ids = await page.locator("table.tasks tbody tr .mono.muted").allTextContents();
    assert.deepEqual(ids, ["paused-cleanup"]);
  });

  await check("pause, resume and run from the row", async () => {
    await page.goto(`${base}/tasks?q=cleanup-tmp`);
    const row = page.locator("tr", { hasText: "cleanup-tmp" });
    await Promise.all([page.waitForURL(/q=cleanup-tmp/), row.getByRole("button", { name: "Pause" }).click()]);
    await page.getByText("Paused cleanup-tmp.").waitFor();
    await row.getByText("paused", { exact: true }).waitFor();
    await row.getByRole("button", { name: "Resume" }).click();
    await page.getByText("Resumed cleanup-tmp.").waitFor();
    await row.getByRole("button", { name: "Run" }).click();
    await page.getByText(/Started run #\d+ of cleanup-tmp\./).waitFor();
  });

  await check("bulk pause, resume and run", async () => {
    await page.goto(`${base}/tasks?q=report`);
    await page.check('input[name=id][value="nightly-report"]');
    await page.check('input[name=id][value="hourly-report"]');
    await page.click(".bulkbar button:has-text('Pause')");
    await page.getByText("pause: 2 done.").waitFor();
    await page.check('input[name=id][value="nightly-report"]');
    await page.check('input[name=id][value="hourly-report"]');
    await page.click(".bulkbar button:has-text('Resume')");
    await page.getByText("resume: 2 done.").waitFor();
    await page.check('input[name=id][value="nightly-report"]');
    await page.check('input[name=id][value="hourly-report"]');
    await page.click(".bulkbar button:has-text('Run now')");
    await page.getByText("run: 2 done.").waitFor();
  });

  await check("the tasks table updates live when a task runs", async () => {
    await page.goto(`${base}/tasks?q=heartbeat`);
    await page.evaluate(() => { window.__noReload = true; });
    const cell = () => page.evaluate(() => {
      const row = [...document.querySelectorAll("table.tasks tbody tr")].find((r) => r.textContent.includes("heartbeat"));
      return row ? row.querySelector("a[href*='/runs/']")?.getAttribute("href") ?? "" : "";
    });
    const before = await cell();
    // The heartbeat task runs every 5 s; its last-run link must change without a reload.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const now = await cell();
      if (now !== before && now !== "") break;
      assert.ok(Date.now() < deadline, `the heartbeat row still links ${now || "no run"} after 15 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(await page.evaluate(() => window.__noReload), true, "the page was not reloaded");
  });

  await check("the table and counters update live when a task runs", async () => {
    await page.goto(`${base}/`);
    await page.evaluate(() => { window.__noReload = true; });
    const runs = page.locator(".stat", { hasText: "runs, last hour" }).locator(".stat-num");
    const before = Number(await runs.textContent());
    // The heartbeat task runs every 5 s; the counter must move without a reload. (Polled
    // from here: waitForFunction would evaluate a string, which the page's CSP forbids.)
    const deadline = Date.now() + 15_000;
    for (;;) {
      const now = await page.evaluate(() => Number(document.querySelector(".stats + .stats .stat-num").textContent));
      if (now > before) break;
      assert.ok(Date.now() < deadline, `runs counter stayed at ${now} for 15 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(await page.evaluate(() => window.__noReload), true, "the page was not reloaded");
  });

  await check("edit a trigger: a validation error, then a good one", async () => {
    await page.goto(`${base}/tasks/nightly-report`);
    await page.click("a.btn:has-text('Edit')");
    await page.fill("#expr", "61 * * * *");
    expectedLoadErrors += 1;
    await page.click("button:has-text('Save changes')");
    await page.locator(".field-error").first().waitFor();
    assert.match(await page.locator(".field-error").first().textContent(), /invalid cron expression/);
    await page.fill("#expr", "0 45 4 * * *");
    await Promise.all([page.waitForURL(`${base}/tasks/nightly-report`), page.click("button:has-text('Save changes')")]);
    await page.getByText("Saved task nightly-report.").waitFor();
    await page.getByText("At 04:45").first().waitFor();
  });

  await check("cancel a running run, then retry a failed one", async () => {
    // A slow job that honours cancellation.
    await page.goto(`${base}/tasks/catalog-import`);
    await page.click(".toolbar button:has-text('Run')");
    const started = await page.getByText(/Started run #\d+ of catalog-import\./).textContent();
    const runId = started.match(/#(\d+)/)[1];
    await page.goto(`${base}/runs/${runId}`);
    // Live: its progress bar moves and its lines arrive, the page never reloaded.
    await page.evaluate(() => { window.__stayed = true; });
    const bar = page.locator(".progress progress").first();
    await bar.waitFor();
    const lines = page.locator("ol.log[data-live-run] li");
    const liveBy = Date.now() + 10_000;
    while ((await lines.count()) < 2 || Number(await bar.getAttribute("value")) < 2) {
      assert.ok(Date.now() < liveBy, `within 10 s: ${await lines.count()} lines, progress ${await bar.getAttribute("value")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(await lines.last().textContent(), /imported batch \d+ of 120/);
    assert.equal(await page.evaluate(() => window.__stayed), true, "the page was not reloaded");
    page.once("dialog", (d) => d.accept());
    await page.click("button:has-text('Cancel run')");
    await page.getByText(`Asked run #${runId} to stop; it ends as cancelled.`).waitFor();
    const deadline = Date.now() + 15_000;
    for (;;) {
      await page.goto(`${base}/runs/${runId}`);
      const err = await page.locator("pre.error-text").textContent().catch(() => "");
      if (err === "cancelled by admin") break;
      assert.ok(Date.now() < deadline, `run ${runId} not cancelled after 15 s (error: ${err})`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(await page.locator("ol.log").textContent(), /stopping cleanly/);
    // A job that fails: retry it from its run's page; the new run links back.
    await page.goto(`${base}/tasks/partner-webhook`);
    await page.click(".toolbar button:has-text('Run')");
    const failedText = await page.getByText(/Started run #\d+ of partner-webhook\./).textContent();
    const failedId = failedText.match(/#(\d+)/)[1];
    const until = Date.now() + 15_000;
    for (;;) {
      await page.goto(`${base}/runs/${failedId}`);
      if (await page.locator("button:has-text('Retry')").count()) break;
      assert.ok(Date.now() < until, `run ${failedId} did not fail within 15 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await page.getByText("https://partner.example.com/hooks/orders").first().waitFor();
    await page.click("button:has-text('Retry')");
    const retried = await page.getByText(new RegExp(`Started run #\\d+ to retry run #${failedId}\\.`)).textContent();
    const retryId = retried.match(/#(\d+)/)[1];
    await page.goto(`${base}/runs/${retryId}`);
    await page.locator(`a[href="${PREFIX}/runs/${failedId}"]`).waitFor();
    assert.match(await page.locator("dl.kv").textContent(), /retry/);
  });

  await check("run now with other args, and copy a task", async () => {
    await page.goto(`${base}/tasks/inventory-sync`);
    await page.getByRole("link", { name: "Run now with…" }).click();
    const args = page.locator("#args");
    JSON.parse(await args.inputValue()); // the task's own args, as JSON
    await args.fill('{"warehouse": "browser-check", "dry_run": true}');
    await page.getByRole("button", { name: "Start the run" }).click();
    await page.waitForURL(/\/runs\/\d+$/);
    await page.getByText(/started with the args given/).waitFor();
    await page.getByText('"warehouse": "browser-check"').waitFor();
    // Copy: the new-task form filled from the task, under a new id.
    await page.goto(`${base}/tasks/inventory-sync`);
    await page.getByRole("link", { name: "Copy as new task" }).click();
    assert.equal(await page.inputValue("#id"), "inventory-sync-copy");
    assert.equal(await page.inputValue("#job"), "sync_inventory");
    // Secrets: masked in the edit form, which says so; saving it unchanged keeps them.
    await page.goto(`${base}/tasks/partner-webhook/edit`);
    assert.match(await page.inputValue("#args"), /"token": "••••"/);
    await page.getByText("leave them as they are to keep them").waitFor();
    await Promise.all([
      page.waitForURL(`${base}/tasks/partner-webhook`),
      page.getByRole("button", { name: "Save changes" }).click(),
    ]);
    await page.getByText("Saved task partner-webhook.").waitFor();
    await page.getByText("1 value is shown as ••••").waitFor();
  });

  await check("the theme switch: system, light, dark, remembered and drawn from the first frame", async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: "light" });
    await page.goto(`${base}/tasks`);
    const btn = page.locator(".theme-toggle");
    assert.match(await btn.textContent(), /Theme: system/);
    const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const light = await bg();
    await btn.click();
    assert.equal(await page.getAttribute("html", "data-theme"), "light");
    assert.equal(await bg(), light);
    await btn.click();
    assert.equal(await page.getAttribute("html", "data-theme"), "dark");
    const dark = await bg();
    assert.notEqual(dark, light, "dark is darker");
    // The server writes the choice into the next page itself: no script, no flash.
    const html = await (await page.request.get(`${base}/runs`)).text();
    assert.match(html, /<html lang="en" data-theme="dark">/);
    assert.match(html, /<meta name="color-scheme" content="dark">/);
    await page.goto(`${base}/runs`);
    assert.equal(await bg(), dark);
    assert.match(await btn.textContent(), /Theme: dark/);
    await axe(page, "runs, chosen dark theme on a light system");
    // Back to the system's: the cookie goes, and a dark system is followed again.
    await btn.click();
    assert.equal(await page.getAttribute("html", "data-theme"), null);
    await page.emulateMedia({ colorScheme: "dark" });
    await page.reload();
    assert.equal(await bg(), dark);
    assert.equal(await page.getAttribute("html", "data-theme"), null);
    await page.emulateMedia({ colorScheme: "light" });
  });

  await check("keyboard shortcuts: / searches, g then a letter goes, ? lists them, not while typing", async () => {
    await page.goto(`${base}/`);
    await page.keyboard.press("g");
    await page.keyboard.press("t");
    await page.waitForURL(/\/tasks$/);
    await page.keyboard.press("/");
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute("name")), "q");
    // Typed into the field, "g r" is text, not a shortcut.
    await page.keyboard.type("gr");
    assert.match(page.url(), /\/tasks$/);
    assert.equal(await page.inputValue('main input[name="q"]'), "gr");
    await page.evaluate(() => document.activeElement.blur());
    await page.keyboard.press("?");
    const dialog = page.locator("dialog#shortcuts");
    await dialog.waitFor();
    assert.match(await dialog.textContent(), /Go to the runs/);
    await axe(page, "the shortcuts dialog");
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    for (const [key, path] of [["r", /\/runs$/], ["j", /\/jobs$/], ["o", /\/$/]]) {
      await page.keyboard.press("g");
      await page.keyboard.press(key);
      await page.waitForURL(path);
    }
    // Where there is no search box, "/" opens the tasks with theirs focused.
    await page.goto(`${base}/jobs`);
    await page.keyboard.press("/");
    await page.waitForURL(/\/tasks#search$/);
    await page.waitForFunction(() => document.activeElement && document.activeElement.getAttribute("name") === "q");
  });

  await check("the task form previews the next fires as you type", async () => {
    await page.goto(`${base}/tasks/new`);
    await page.selectOption("#kind", "cron");
    await page.fill("#expr", "0 15 10 * * *");
    const box = page.locator("#trigger-preview");
    await box.locator("li", { hasText: "10:15:00" }).first().waitFor();
    assert.equal(await box.locator("ol.fires li").count(), 5);
    await box.getByText("Next 5 fires").waitFor();
    // Each fire says what else fires in its minute (the timeline's count).
    await box.locator("li .load", { hasText: /in that (minute|hour)/ }).first().waitFor();
    // Typing on changes it; a broken expression says why.
    await page.fill("#expr", "0 45 22 * * *");
    await box.locator("li", { hasText: "22:45:00" }).first().waitFor();
    await page.fill("#expr", "0 61 * * *");
    await box.locator(".field-error").waitFor();
    assert.equal(await page.locator(".preview-button").isVisible(), false, "the button is for pages without script");
  });

  await check("times flip to the viewer's zone and back, remembered", async () => {
    const tokyo = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: "Asia/Tokyo" });
    const p = await newPage(tokyo, "tokyo");
    await login(p);
    await p.goto(`${base}${await someRun(p)}`);
    const first = p.locator("time[data-abs]").first();
    const server = await first.textContent();
    assert.match(server, /UTC$/, "the scheduler's zone by default");
    assert.equal(await p.locator(".tz").textContent(), "UTC");
    await p.click(".tz-toggle");
    const local = await first.textContent();
    assert.match(local, /GMT\+9$/, `the viewer's zone: ${local}`);
    const hours = (t) => Number(t.slice(11, 13));
    assert.equal((hours(server) + 9) % 24, hours(local), `${server} → ${local}`);
    assert.equal(await p.locator(".tz").textContent(), "Asia/Tokyo");
    assert.equal(await p.locator(".tz-toggle").getAttribute("aria-pressed"), "true");
    await p.reload();
    assert.match(await p.locator("time[data-abs]").first().textContent(), /GMT\+9$/, "remembered");
    await p.click(".tz-toggle");
    assert.equal(await p.locator("time[data-abs]").first().textContent(), server);
    await tokyo.close();
  });

  await check("the timeline: a heat map, the busiest minutes, a slot's tasks, times in the viewer's zone", async () => {
    const tokyo = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: "Asia/Tokyo" });
    const p = await newPage(tokyo, "timeline");
    await login(p);
    await p.goto(`${base}/`);
    await Promise.all([p.waitForURL(`${base}/timeline`), p.getByRole("link", { name: "Timeline" }).click()]);
    assert.equal(await p.locator(".heatmap .hm-row").count(), 24);
    assert.ok(await p.locator(".heatmap a.c").count() > 0, "cells with fires");
    // The busiest minute leads to its tasks.
    const busiest = p.locator("ol.slots li a").first();
    const label = await busiest.textContent();
    await busiest.click();
    await p.locator("#slot table tbody tr").first().waitFor();
    assert.match(await p.locator("#slot h2").textContent(), /Tasks firing at/);
    // A cell's title names its time and fires; the zone switch shows times in Tokyo's.
    const cell = p.locator(".heatmap a.c time").first();
    assert.match(await cell.getAttribute("title"), /UTC: \d+ fires? from \d+ tasks?$/);
    const row = p.locator(".hm-label time").first();
    const server = await row.textContent();
    await p.click(".tz-toggle");
    const local = await row.textContent();
    assert.notEqual(local, server);
    assert.match(local, /GMT\+9$/, local);
    assert.match(await cell.getAttribute("title"), /GMT\+9: \d+ fires? from \d+ tasks?$/);
    await p.click(".tz-toggle");
    assert.equal(await row.textContent(), server);
    assert.ok(label.length > 0);
    // The week: a row a day.
    await p.selectOption("select[name=window]", "7d");
    await Promise.all([p.waitForURL(/window=7d/), p.getByRole("button", { name: "Show", exact: true }).click()]);
    assert.equal(await p.locator(".heatmap .hm-row").count(), 7);
    await tokyo.close();
  });

  await check("the overview's charts have accessible names and their numbers", async () => {
    await page.goto(`${base}/`);
    const charts = page.locator("svg.over-time[role=img]");
    assert.equal(await charts.count(), 3);
    for (let i = 0; i < 3; i++) {
      const name = await charts.nth(i).evaluate((svg) => {
        const id = svg.getAttribute("aria-labelledby");
        return document.getElementById(id)?.textContent ?? "";
      });
      assert.match(name, /^All runs: runs and failures over the last (hour, per minute|24 hours, per hour|7 days, per hour)$/);
    }
    // The week's seeded history shows as bars; the numbers are one click away.
    assert.ok(await page.locator("svg.over-time").nth(2).locator("rect.bar").count() > 20, "bars over the week");
    await page.locator("details.chart-table summary").nth(2).click();
    assert.ok(await page.locator("details.chart-table").nth(2).locator("tbody tr").count() > 20);
  });

  await check("remove with the confirmation", async () => {
    await page.goto(`${base}/tasks/jittery-sync`);
    page.once("dialog", (d) => d.accept());
    await Promise.all([page.waitForURL(`${base}/tasks`), page.click(".toolbar button:has-text('Remove')")]);
    await page.getByText("Removed jittery-sync.").waitFor();
    assert.equal(await page.locator('a[href$="/tasks/jittery-sync"]').count(), 0);
  });

  // A run that exists (old history is pruned): the newest on the runs page.
  async function someRun(p, query = "") {
    await p.goto(`${base}/runs${query}`);
    const href = await p.locator("table a[href*='/runs/']").first().getAttribute("href");
    return href.slice(PREFIX.length);
  }

  await check("every page: screenshots (desktop and phone, light and dark) and accessibility", async () => {
    const runPath = await someRun(page, "?status=succeeded");
    const failedPath = await someRun(page, "?status=failures");
    const pages = {
      overview: "/", tasks: "/tasks", task: "/tasks/inventory-sync", edit: "/tasks/inventory-sync/edit",
      new: "/tasks/new", runs: "/runs", audit: "/audit", instances: "/instances",
      run: runPath, "run-failed": failedPath, jobs: "/jobs",
      "run-with": "/tasks/inventory-sync/run-with", copy: "/tasks/new?copy=inventory-sync",
      timeline: "/timeline", "timeline-week": "/timeline?window=7d",
    };
    // On a phone, how far down each page's content starts: the header must be short and
    // the same on every page (the layout must not jump from page to page).
    const tops = {};
    for (const scheme of ["light", "dark"]) {
      for (const [device, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
        await page.setViewportSize(viewport);
        await page.emulateMedia({ colorScheme: scheme });
        for (const [name, path] of Object.entries(pages)) {
          await page.goto(`${base}${path}`);
          await page.screenshot({ path: join(artifacts, `${name}-${device}-${scheme}.png`), fullPage: true });
          // What the first screen shows, without scrolling.
          await page.screenshot({ path: join(artifacts, `${name}-${device}-${scheme}-first.png`) });
          // Wide tables scroll inside their frame; the page itself never scrolls sideways.
          const wide = await page.evaluate(() => document.documentElement.scrollWidth);
          assert.ok(wide <= viewport.width, `${name} (${device}) is ${wide}px wide in a ${viewport.width}px viewport`);
          await axe(page, `${name} (${device}, ${scheme})`);
          if (device === "phone") {
            tops[name] = await page.evaluate(() => Math.round(document.getElementById("main").getBoundingClientRect().top + window.scrollY));
          }
        }
        if (device === "phone") {
          const heights = new Set(Object.values(tops));
          assert.equal(heights.size, 1, `the phone header's height differs between pages: ${JSON.stringify(tops)}`);
          const [top] = heights;
          assert.ok(top <= 130, `on a phone the content starts ${top}px down (at most 130): ${JSON.stringify(tops)}`);
          console.log(`  phone (${scheme}): the content starts ${top}px down on every page`);
        }
      }
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: "light" });
  });

  await check("keyboard: skip link, visible focus everywhere, a row action with Enter", async () => {
    await page.goto(`${base}/tasks?q=heartbeat`);
    await page.keyboard.press("Tab");
    const skip = await page.evaluate(() => document.activeElement.textContent.trim());
    assert.equal(skip, "Skip to content", "the first Tab reaches the skip link");
    const box = await page.locator("a.skip").boundingBox();
    assert.ok(box && box.x >= 0 && box.y >= 0 && box.width > 0, "the focused skip link is on screen");
    await page.keyboard.press("Enter");
    assert.ok(page.url().endsWith("#main"), page.url());
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press("Tab");
      const f = await page.evaluate(() => {
        const e = document.activeElement;
        const cs = getComputedStyle(e);
        return {
          what: `${e.tagName.toLowerCase()} "${(e.textContent || e.value || e.name || "").trim().slice(0, 30)}"`,
          outlined: cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) >= 1,
          inMain: !!e.closest("main"),
          rowAction: e.tagName === "BUTTON" && e.textContent.trim() === "Pause" && !!e.closest("tr")?.textContent.includes("heartbeat"),
        };
      });
      assert.ok(f.inMain, `Tab after the skip link left the main content: ${f.what}`);
      assert.ok(f.outlined, `no visible focus ring on ${f.what}`);
      reached = f.rowAction;
    }
    assert.ok(reached, "the row's Pause button is reachable with Tab");
    await Promise.all([page.waitForURL(/q=heartbeat/), page.keyboard.press("Enter")]);
    await page.getByText("Paused heartbeat.").waitFor();
    await page.locator("tr", { hasText: "heartbeat" }).getByRole("button", { name: "Resume" }).click();
    await page.getByText("Resumed heartbeat.").waitFor();
  });

  await check("empty states say what to do", async () => {
    await page.goto(`${base}/tasks?q=no-such-task`);
    await page.getByText("No task matches these filters.").waitFor();
    await page.getByRole("link", { name: "Clear the filters" }).click();
    await page.waitForURL(`${base}/tasks`);
    await page.goto(`${base}/runs?task=no-such-task`);
    await page.getByText("No run matches these filters.").waitFor();
    for (const [name, path] of [["tasks-empty", "/tasks?q=no-such-task"], ["runs-empty", "/runs?task=no-such-task"]]) {
      await page.goto(`${base}${path}`);
      await page.screenshot({ path: join(artifacts, `${name}-desktop-light.png`), fullPage: true });
    }
  });

  await check("sign out", async () => {
    await page.goto(`${base}/tasks`);
    await page.click(".user-menu > summary");
    await Promise.all([page.waitForURL(`${base}/login`), page.click("button:has-text('Sign out')")]);
    await page.goto(`${base}/tasks`);
    assert.ok(page.url().startsWith(`${base}/login`), page.url());
  });

  await check("the main flow with JavaScript off (plain forms)", async () => {
    const nojs = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 800 } });
    const p = await newPage(nojs, "no-js");
    await login(p);
    assert.equal(await p.locator(".tz-toggle").isVisible(), false, "no zone toggle without script");
    const row = p.locator("tr", { hasText: "export-orders" });
    await row.getByRole("button", { name: "Pause" }).click();
    await p.getByText("Paused export-orders.").waitFor();
    await p.goto(`${base}/tasks/export-orders`);
    await p.click(".toolbar button:has-text('Remove')");
    await p.getByText("Please confirm").waitFor();
    await Promise.all([p.waitForURL(`${base}/tasks`), p.click("button:has-text('Yes, remove')")]);
    await p.getByText("Removed export-orders.").waitFor();
    // The form's Preview button shows the next fires from the server.
    await p.goto(`${base}/tasks/new`);
    await p.selectOption("#kind", "interval");
    await p.fill("#every", "90m");
    await p.click("button:has-text('Preview the next fires')");
    await p.getByText("Next 5 fires").waitFor();
    assert.equal(await p.locator("#trigger-preview ol.fires li").count(), 5);
    assert.equal(await p.inputValue("#every"), "90m", "what was typed stays");
    await nojs.close();
  });

  await check("single sign-on through a third-party OpenID Provider (oidc-provider) with its defaults", async () => {
    // A second demo, signing in through `oidc-provider`: its ID tokens carry only `sub`
    // (name and groups come from userinfo), it names itself on its answers (RFC 9207), and
    // the groups claim is released for the `groups` scope only.
    const opPort = await freePort();
    const port2 = await freePort();
    const base2 = `http://127.0.0.1:${port2}${PREFIX}`;
    const op = await startThirdPartyOp({
      port: opPort,
      clientId: "taskdeck-interop",
      clientSecret: "interop-client-secret",
      redirectUri: `${base2}/auth/oidc/callback`,
      person: { name: "Ivy Interop", groups: ["taskdeck-operators"] },
    });
    thirdParty.push(op);
    const demo2 = spawn(demoBin, [], {
      env: {
        ...process.env,
        TASKDECK_ADDR: `127.0.0.1:${port2}`,
        TASKDECK_PREFIX: PREFIX,
        TASKDECK_DEMO_PASSWORD: PASSWORD,
        TASKDECK_OIDC_ISSUER: op.issuer,
        TASKDECK_OIDC_CLIENT_ID: "taskdeck-interop",
        TASKDECK_OIDC_CLIENT_SECRET: "interop-client-secret",
        TASKDECK_OIDC_LABEL: "Sign in with Interop ID",
        TASKDECK_OIDC_SCOPES: "openid profile groups",
        RUST_LOG: "error",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    thirdParty.push({ close: () => demo2.kill("SIGTERM") });
    demo2.stdout.on("data", keepOutput);
    demo2.stderr.on("data", keepOutput);
    await waitFor(`${base2}/health`, 60_000);
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await ctx.newPage();
    await p.goto(`${base2}/login`);
    await p.getByRole("link", { name: "Sign in with Interop ID" }).click();
    // oidc-provider's own sign-in and consent pages.
    await p.locator("input[name=login]").fill("ivy");
    await p.locator("input[name=password]").fill("any");
    await p.locator("button[type=submit]").click();
    await p.locator("button[type=submit]").click();
    await p.waitForURL(`${base2}/**`);
    await p.getByText("Ivy Interop").waitFor();
    assert.match(await p.locator(".user").textContent(), /operator/);
    // Signing out sends the ID token as id_token_hint to its end-session endpoint.
    await p.click(".user-menu > summary");
    // The leaving page sends the browser on; wait until it is at the provider.
    await Promise.all([
      p.waitForURL(`${op.issuer}/session/end**`),
      p.click("button:has-text('Sign out')"),
    ]);
    assert.match(p.url(), /[?&]id_token_hint=[\w-]+\.[\w-]+\.[\w-]+/);
    await p.goto(`${base2}/tasks`);
    assert.ok(p.url().startsWith(`${base2}/login`), `signed out: ${p.url()}`);
    await ctx.close();
  });
} catch (e) {
  problems.push(`the suite stopped: ${e.message}`);
} finally {
  await browser.close();
  demo.kill("SIGTERM");
  provider.kill("SIGTERM");
  for (const t of thirdParty) t.close();
}

if (problems.length) {
  showDemoOutput();
  console.log(`\n${problems.length} problem(s):\n- ${problems.join("\n- ")}`);
}
console.log(`\n${passed} passed, ${problems.length} failed`);
process.exit(problems.length ? 1 : 0);
