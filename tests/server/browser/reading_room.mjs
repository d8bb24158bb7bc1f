// Drives the reading room in Debian's Chromium through playwright-core (no downloaded browser):
// log in, worklist, open a study, change the window (keys and the preset control in step), cycle
// the heatmaps with H (legend, tint only where there is heat), edit and sign (the dialog's focus,
// Esc), add an addendum, view the history side by side, then "sign and next" from the keyboard.
// Screenshots go to the folder given as the second argument.
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
// The canvas pixel over a point of the image, given as fractions of its width and height.
const imagePixel = (fx, fy) =>
  page.evaluate(([fx, fy]) => {
    const v = window.januscxrViewer;
    const c = v.canvas;
    const scale = Math.min(c.width / v.buffer.width, c.height / v.buffer.height) * v.zoom;
    const x = (c.width - v.buffer.width * scale) / 2 + v.panX + fx * v.buffer.width * scale;
    const y = (c.height - v.buffer.height * scale) / 2 + v.panY + fy * v.buffer.height * scale;
    return Array.from(c.getContext("2d").getImageData(Math.round(x), Math.round(y), 1, 1).data);
  }, [fx, fy]);
const presetShown = () => page.$eval("#preset", (s) => s.value);
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

  const order = await page.$$eval("#worklist tbody tr[data-study-id]", (trs) => trs.map((tr) => tr.dataset.studyId));
  check("three studies to read", order.length === 3, order);
  await Promise.all([page.waitForURL("**/studies/*"), page.click("#worklist tbody tr:first-child a")]);
  await page.waitForSelector("#viewer[data-loaded=true]");
  let data = await canvasData();
  check("viewer starts at the default window", data.window === "256" && data.level === "128", JSON.stringify(data));
  check("the preset control shows the default", (await presetShown()) === "default");
  check("the keys legend lists sign and next", (await page.textContent("#keys")).includes("Ctrl+Shift+Enter"));
  await page.keyboard.press("4");
  data = await canvasData();
  check("key 4 is the bone preset, and the control follows", data.preset === "bone" && (await presetShown()) === "bone", JSON.stringify(data));
  await page.selectOption("#preset", "mediastinum");
  data = await canvasData();
  check("the control sets the window", data.window === "120" && data.level === "150", JSON.stringify(data));
  await page.keyboard.press("1");
  check("keys work again after the control was used", (await canvasData()).preset === "default" && (await presetShown()) === "default");
  await shot("02-study.png");

  const box = await (await page.$("#viewer")).boundingBox();
  const before = await centrePixel();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 - 120, box.y + box.height / 2 - 30, { steps: 6 });
  await page.mouse.up();
  data = await canvasData();
  check("dragging narrows the window", Number(data.window) < 256 && Number(data.level) > 128, JSON.stringify(data));
  check("after a drag the control shows Custom", (await presetShown()) === "custom");
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

  // The fake model's maps are hot over the image's left half, rows 2-5 and columns 1-2 of 8.
  const hot = await imagePixel(0.25, 0.5);
  const cold = await imagePixel(0.85, 0.5);
  const names = await page.$$eval(".heatmap-toggle", (boxes) => boxes.map((b) => b.dataset.finding));
  check("two heatmaps to cycle through", names.length === 2, names);
  check("no legend while no heatmap is on", await page.$eval("#heatmap-legend", (e) => e.hidden));
  await page.keyboard.press("h");
  await page.waitForSelector("#viewer[data-overlays='1']");
  check("H shows the first heatmap, named in the legend", (await page.textContent("#heatmap-name")).startsWith(`${names[0]} (1/2)`));
  check("the legend is visible", !(await page.$eval("#heatmap-legend", (e) => e.hidden)));
  check("the hot region is tinted", JSON.stringify(await imagePixel(0.25, 0.5)) !== JSON.stringify(hot));
  check("the cold region is untouched", JSON.stringify(await imagePixel(0.85, 0.5)) === JSON.stringify(cold));
  await shot("04-heatmap.png");
  await page.keyboard.press("h");
  await page.waitForFunction(() => document.querySelector("#heatmap-name").textContent.includes("(2/2)"));
  const boxes = await page.$$eval(".heatmap-toggle", (all) => all.map((b) => b.checked));
  check("H moves to the second heatmap, one at a time", (await canvasData()).overlays === "1" && boxes.join() === "false,true", boxes);
  await page.keyboard.press("h");
  await page.waitForSelector("#viewer[data-overlays='0']");
  check("H after the last turns the heatmaps off", await page.$eval("#heatmap-legend", (e) => e.hidden));
  await page.click(".heatmap-toggle");
  await page.waitForSelector("#viewer[data-overlays='1']");
  check("a heatmap box works too", (await page.textContent("#heatmap-name")).startsWith(names[0]));
  await page.click(".heatmap-toggle");
  await page.waitForSelector("#viewer[data-overlays='0']");

  const edited = "Small right apical pneumothorax, edited in the browser test.";
  await page.fill("#findings-text", edited);
  await page.click("#save-draft");
  await page.waitForFunction(() => document.querySelector("#report-message").textContent.includes("Draft saved"));
  await page.click("#sign");
  check("sign asks for confirmation", await page.isVisible("#sign-dialog"));
  check("the dialog opens on its Sign button", (await page.evaluate(() => document.activeElement.id)) === "confirm-sign");
  await shot("08-sign-dialog.png");
  await page.keyboard.press("Escape");
  check("Esc cancels", !(await page.isVisible("#sign-dialog")) && (await page.textContent("#report-status")) === "draft");
  await page.keyboard.press("Control+Enter");
  check("Ctrl+Enter asks too, on Sign", (await page.evaluate(() => document.activeElement.id)) === "confirm-sign");
  await page.keyboard.press("Enter");
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
  check("history marks the changed words side by side", (await page.$$("article.version .sbs del")).length > 0 && (await page.$$("article.version .sbs ins")).length > 0);
  await shot("07-history.png");

  // Sign and next: from the worklist's next study, the keyboard alone opens the one after it.
  await page.goto(`${base}/studies/${order[1]}`);
  await page.waitForSelector("#viewer[data-loaded=true]");
  await page.focus("#impression-text");
  await page.keyboard.press("Control+Shift+Enter");
  check("Ctrl+Shift+Enter asks, on Sign and next", (await page.evaluate(() => document.activeElement.id)) === "confirm-sign-next");
  await Promise.all([page.waitForURL(`**/studies/${order[2]}`), page.keyboard.press("Enter")]);
  await page.waitForSelector("#viewer[data-loaded=true]");
  check("the next study of the worklist is open", page.url().endsWith(`/studies/${order[2]}`), page.url());
  await shot("09-sign-and-next.png");
  const signedBefore = await page.evaluate(async (id) => (await (await fetch(`/api/studies/${id}/report`)).json()).status, order[1]);
  check("the study before it was signed", signedBefore === "signed", signedBefore);
  check("no script errors", errors.length === 0, errors.join("; "));
} catch (error) {
  await shot("failure.png").catch(() => {});
  console.error(String(error && error.stack ? error.stack : error));
  process.exitCode = 1;
} finally {
  console.log(JSON.stringify({ checks }, null, 1));
  await context.close();
}
