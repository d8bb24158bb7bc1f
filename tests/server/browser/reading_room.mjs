// Drives the reading room in Debian's Chromium through playwright-core (no downloaded browser):
// log in, worklist, open a study, change the window, toggle a heatmap, edit and sign, add an
// addendum, view the history. Screenshots go to the folder given as the second argument.
// Usage: node reading_room.mjs BASE_URL ARTIFACT_DIR USERNAME PASSWORD
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, artifacts, username, password] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const userDataDir = mkdtempSync(join(tmpdir(), "januscxr-chromium-"));
const args = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath, args, headless: true, viewport: { width: 1920, height: 1080 },
});
const page = context.pages()[0] || (await context.newPage());
const checks = [];
const check = (name, ok, detail = "") => {
  checks.push({ name, ok: Boolean(ok), detail: String(detail) });
  if (!ok) throw new Error(`check failed: ${name} ${detail}`);
};
const shot = (name) => page.screenshot({ path: join(artifacts, name), fullPage: false });
const canvasData = () => page.$eval("#viewer", (c) => ({ ...c.dataset }));
const centrePixel = () =>
  page.$eval("#viewer", (c) => Array.from(c.getContext("2d").getImageData(c.width >> 1, c.height >> 1, 1, 1).data));
const errors = [];
page.on("pageerror", (error) => errors.push(String(error)));

try {
  await page.goto(`${base}/worklist`);
  check("anonymous user is sent to the login page", page.url().includes("/login"), page.url());
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", password);
  await Promise.all([page.waitForURL("**/worklist"), page.click("button[type=submit]")]);
  const rows = await page.$$("#worklist tbody tr[data-study-id]");
  check("worklist lists the study", rows.length >= 1, rows.length);
  check("critical badge on the first row", await page.$("#worklist tbody tr:first-child .badge.critical"));
  await shot("01-worklist.png");

  await Promise.all([page.waitForURL("**/studies/*"), page.click("#worklist tbody tr:first-child a")]);
  await page.waitForSelector("#viewer[data-loaded=true]");
  let data = await canvasData();
  check("viewer starts at the default window", data.window === "256" && data.level === "128", JSON.stringify(data));
  await shot("02-study.png");

  const box = await (await page.$("#viewer")).boundingBox();
  const before = await centrePixel();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 - 120, box.y + box.height / 2 - 30, { steps: 6 });
  await page.mouse.up();
  data = await canvasData();
  check("dragging narrows the window", Number(data.window) < 256 && Number(data.level) > 128, JSON.stringify(data));
  check("the pixels changed with the window", JSON.stringify(await centrePixel()) !== JSON.stringify(before));
  await page.selectOption("#preset", "lung");
  data = await canvasData();
  check("lung preset", data.window === "160" && data.level === "80", JSON.stringify(data));
  await page.click("#invert");
  check("invert", (await canvasData()).invert === "true");
  await page.click("#zoom-in");
  check("zoom", Number((await canvasData()).zoom) > 1);
  await shot("03-window.png");
  await page.click("#reset");
  data = await canvasData();
  check("reset", data.window === "256" && data.invert === "false" && data.zoom === "1.00", JSON.stringify(data));

  await page.click(".heatmap-toggle");
  await page.waitForSelector("#viewer[data-overlays='1']");
  check("heatmap overlay shown", true);
  await shot("04-heatmap.png");
  await page.click(".heatmap-toggle");
  await page.waitForSelector("#viewer[data-overlays='0']");

  const edited = "Small right apical pneumothorax, edited in the browser test.";
  await page.fill("#findings-text", edited);
  await page.click("#save-draft");
  await page.waitForFunction(() => document.querySelector("#report-message").textContent.includes("Draft saved"));
  await page.click("#sign");
  check("sign asks for confirmation", await page.isVisible("#sign-dialog"));
  await page.click("#confirm-sign");
  await page.waitForFunction(() => document.querySelector("#report-status").textContent === "signed");
  check("findings are read-only once signed", await page.$eval("#findings-text", (t) => t.readOnly));
  check("sign and save are disabled once signed", await page.$eval("#sign", (b) => b.disabled) && (await page.$eval("#save-draft", (b) => b.disabled)));
  await shot("05-signed.png");

  await page.fill("#addendum-text", "Addendum: compared with the prior film, unchanged.");
  await page.click("#add-addendum");
  await page.waitForFunction(() => document.querySelector("#addenda").textContent.includes("compared with the prior"));
  check("status amended", (await page.textContent("#report-status")) === "amended");
  await shot("06-addendum.png");

  await page.click("text=History");
  await page.waitForURL("**/history");
  check("history shows the signed text", (await page.textContent("main")).includes(edited));
  await shot("07-history.png");
  check("no script errors", errors.length === 0, errors.join("; "));
} catch (error) {
  await shot("failure.png").catch(() => {});
  console.error(String(error && error.stack ? error.stack : error));
  process.exitCode = 1;
} finally {
  console.log(JSON.stringify({ checks }, null, 1));
  await context.close();
}
