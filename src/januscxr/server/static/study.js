// The study page: viewer controls, heatmap toggles, report editor (save, sign with
// confirmation, addenda), keyboard shortcuts and reading-time capture (idle gaps excluded).
"use strict";

(() => {
  const root = document.getElementById("study");
  const study = JSON.parse(root.dataset.study);
  const csrf = root.dataset.csrf;
  const role = root.dataset.role;
  const idleMs = Number(root.dataset.idleMs);
  const $ = (id) => document.getElementById(id);
  let report = study.report;

  // ---- viewer
  const viewer = new window.Viewer($("viewer"));
  const readout = $("wl-readout");
  viewer.onchange = (v) => {
    readout.textContent = `W ${Math.round(v.width)} L ${Math.round(v.level)} · ${v.zoom.toFixed(1)}×${v.invert ? " · inverted" : ""}`;
    $("preset").value = v.presetName() || "custom"; // the control follows keys, drags and resets
  };
  const showImage = (index) => {
    const image = study.images[index];
    if (image && image.display_url) viewer.load(image.display_url);
    else $("viewer-empty").hidden = false;
  };
  showImage(0);
  if ($("image-select")) $("image-select").addEventListener("change", (e) => showImage(Number(e.target.value)));
  const setTool = (tool) => {
    viewer.tool = tool;
    document.querySelectorAll("[data-tool]").forEach((b) => b.classList.toggle("active", b.dataset.tool === tool));
  };
  document.querySelectorAll("[data-tool]").forEach((b) => b.addEventListener("click", () => setTool(b.dataset.tool)));
  $("zoom-in").addEventListener("click", () => viewer.zoomBy(1.25));
  $("zoom-out").addEventListener("click", () => viewer.zoomBy(0.8));
  $("invert").addEventListener("click", () => viewer.toggleInvert());
  $("reset").addEventListener("click", () => viewer.reset());
  $("preset").addEventListener("change", (e) => {
    viewer.preset(e.target.value);
    $("viewer").focus(); // hand the keys back to the shortcuts
  });
  // One heatmap at a time (stacked maps hide each other): the boxes and H choose it, the legend names it.
  const toggles = Array.from(document.querySelectorAll(".heatmap-toggle"));
  const showHeatmap = (index) => {
    toggles.forEach((box, i) => {
      box.checked = i === index;
      box.closest("tr").classList.toggle("heatmap-on", i === index);
      viewer.showOverlay(box.dataset.url, i === index);
    });
    $("heatmap-legend").hidden = index < 0;
    $("heatmap-name").textContent = index < 0 ? "" : `${toggles[index].dataset.finding} (${index + 1}/${toggles.length})`;
  };
  toggles.forEach((box, i) => box.addEventListener("change", () => showHeatmap(box.checked ? i : -1)));
  // H: off -> heatmap 1 -> heatmap 2 -> ... -> off
  const cycleHeatmap = () => {
    const next = toggles.findIndex((box) => box.checked) + 1;
    showHeatmap(next < toggles.length ? next : -1);
  };

  // ---- report
  const message = (text, isError) => {
    $("report-message").textContent = text;
    $("report-message").className = isError ? "error" : "hint";
  };
  const api = async (method, url, body) => {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = response.status === 204 ? null : await response.json();
    if (!response.ok) throw Object.assign(new Error(data ? data.message : response.statusText), { status: response.status });
    return data;
  };
  const edited = () => ({
    revision: report.revision,
    findings: $("findings-text").value,
    impression: $("impression-text").value,
  });
  // Discordances come from the server (januscxr.consistency, the one rule), with every save and signature.
  const DISAGREES = {
    report_denies: "the AI flags it; the report says it is absent",
    report_omits: "the AI flags it; the report does not mention it",
    report_asserts: "the report states it; the AI does not flag it",
  };
  const showDiscordances = (list) => {
    const found = new Map(list.map((d) => [d.finding, d]));
    document.querySelectorAll(".discordance[data-finding]").forEach((badge) => {
      const d = found.get(badge.dataset.finding);
      badge.hidden = !d;
      badge.title = d ? `Report and AI disagree: ${DISAGREES[d.kind]}` : "";
    });
    const summary = $("discordances");
    if (!summary) return;
    summary.replaceChildren(
      ...list.map((d) => {
        const item = document.createElement("li");
        item.textContent = `${d.finding}: ${DISAGREES[d.kind]}${d.sentence ? ` (“${d.sentence}”)` : ""}.`;
        return item;
      }),
    );
  };
  const show = (updated) => {
    report = updated;
    showDiscordances(report.discordances || []);
    $("attribution").textContent = report.attribution || "";
    $("report-status").textContent = report.status;
    $("report-status").className = `badge ${report.status}`;
    const final = report.status === "signed" || report.status === "amended";
    const canSign = role !== "admin" && !final && !(role === "resident" && report.status === "preliminary");
    // A preliminary text changes only by a radiologist's co-signature (which may edit it), never by a draft save.
    const editable = canSign && role !== "admin";
    $("findings-text").readOnly = !editable;
    $("impression-text").readOnly = !editable;
    $("save-draft").disabled = report.status !== "draft" || role === "admin";
    $("sign").disabled = !canSign;
    $("sign-next").disabled = !canSign;
    $("addendum-form").hidden = !final || role === "admin";
    $("signed-info").textContent = report.signature || "";
    const list = $("addenda");
    list.replaceChildren(
      ...report.addenda.map((a) => {
        const div = document.createElement("div");
        div.className = "addendum";
        div.textContent = `Addendum (${a.author}): ${a.text}`;
        return div;
      }),
    );
  };
  show(report);
  const conflict = (error) => {
    if (error.status === 409) {
      message(`${error.message}. Your text is kept in the report history; reload to see the current report.`, true);
    } else message(error.message, true);
  };
  const save = async () => {
    try {
      show(await api("PUT", `/api/studies/${study.id}/report`, edited()));
      message("Draft saved.");
    } catch (error) {
      conflict(error);
    }
  };
  const sign = async () => {
    await flushActivity();
    try {
      show(await api("POST", `/api/studies/${study.id}/report/sign`, edited()));
      message(report.status === "preliminary" ? "Signed as preliminary; awaiting co-signature." : "Report signed.");
      return true;
    } catch (error) {
      conflict(error);
      return false;
    }
  };
  $("save-draft").addEventListener("click", save);
  // The sign dialog opens on its Sign (or Sign and next) button, so Enter signs and Esc cancels.
  const dialog = $("sign-dialog");
  const askToSign = (andNext) => {
    if ($("sign").disabled || dialog.open) return;
    dialog.returnValue = ""; // Esc keeps the last value: a cancel must not read as an earlier confirm
    dialog.showModal();
    $(andNext ? "confirm-sign-next" : "confirm-sign").focus();
  };
  $("sign").addEventListener("click", () => askToSign(false));
  $("sign-next").addEventListener("click", () => askToSign(true));
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue === "confirm") sign();
    // The next study in the worklist's order, chosen by the server; the worklist when none is left.
    else if (dialog.returnValue === "confirm-next" && (await sign())) window.location.assign(`/studies/${study.id}/next`);
  });
  $("add-addendum").addEventListener("click", async () => {
    const text = $("addendum-text").value.trim();
    if (!text) return message("The addendum is empty.", true);
    try {
      show(await api("POST", `/api/studies/${study.id}/report/addenda`, { text }));
      $("addendum-text").value = "";
      message("Addendum added.");
    } catch (error) {
      message(error.message, true);
    }
  });

  // ---- keyboard shortcuts (not while typing, except Ctrl combinations)
  document.addEventListener("keydown", (event) => {
    const active = document.activeElement;
    const field = active.tagName === "INPUT" && !["checkbox", "radio", "button"].includes(active.type);
    const typing = field || ["TEXTAREA", "SELECT"].includes(active.tagName); // a heatmap box keeps the keys
    if (dialog.open) return; // the dialog's own keys: Enter on the focused button, Esc to cancel
    if (event.ctrlKey && event.key === "s") {
      event.preventDefault();
      if (!$("save-draft").disabled) save();
    } else if (event.ctrlKey && event.key === "Enter") {
      event.preventDefault();
      askToSign(event.shiftKey);
    } else if (!typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      const keys = { w: () => setTool("wl"), p: () => setTool("pan"), i: () => viewer.toggleInvert(), r: () => viewer.reset() };
      keys["+"] = () => viewer.zoomBy(1.25);
      keys["-"] = () => viewer.zoomBy(0.8);
      keys.h = cycleHeatmap;
      const presets = ["default", "lung", "mediastinum", "bone"];
      if (/^[1-4]$/.test(event.key)) keys[event.key] = () => viewer.preset(presets[Number(event.key) - 1]);
      if (keys[event.key]) keys[event.key]();
    }
  });

  // ---- reading time: count a tick only if there was input within the idle limit
  const TICK_MS = 1000;
  let lastInput = Date.now();
  let pendingMs = 0;
  let totalMs = study.active_s * 1000;
  ["mousemove", "mousedown", "keydown", "wheel", "input", "touchstart"].forEach((name) =>
    document.addEventListener(name, () => (lastInput = Date.now()), { passive: true }),
  );
  const reading = () => role !== "admin" && report.status !== "signed" && report.status !== "amended";
  setInterval(() => {
    if (document.visibilityState === "visible" && Date.now() - lastInput < idleMs && reading()) {
      pendingMs += TICK_MS;
      totalMs += TICK_MS;
      $("active-time").textContent = (totalMs / 1000).toFixed(0);
    }
  }, TICK_MS);
  const flushActivity = async () => {
    if (!pendingMs) return;
    const ms = pendingMs;
    pendingMs = 0;
    try {
      await fetch(`/api/studies/${study.id}/activity`, {
        method: "POST",
        keepalive: true,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ active_ms: ms }),
      });
    } catch (error) {
      pendingMs += ms;
    }
  };
  setInterval(flushActivity, 10000);
  window.addEventListener("pagehide", flushActivity);
  window.januscxrViewer = viewer;
})();
