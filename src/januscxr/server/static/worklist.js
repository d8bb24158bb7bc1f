// The worklist refreshes itself: every 30 s (and as the reader types a search) it fetches the
// same page with the current filters and swaps in the new table rows, keeping the scroll
// position and the focused row. The server renders every row: there is no second renderer here.
"use strict";

(() => {
  const table = document.getElementById("worklist");
  const form = document.getElementById("worklist-filters");
  const search = document.getElementById("worklist-search");
  const status = document.getElementById("worklist-refreshed");
  if (!table || !form) return;
  const periodMs = Number(table.dataset.refreshS || 30) * 1000;
  let inFlight = null;
  let stopped = false;

  const currentUrl = () => {
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value !== "") params.append(key, value);
    const query = params.toString();
    return `${location.pathname}${query ? `?${query}` : ""}`;
  };

  // What has the focus, by study (a row's link) or by column (a heading's link), to find it again.
  const focusKey = () => {
    const active = document.activeElement;
    if (!active || !table.contains(active)) return null;
    const row = active.closest("tr[data-study-id]");
    if (row) return `tbody tr[data-study-id="${row.dataset.studyId}"] a`;
    const heading = active.closest("th[data-sort]");
    return heading ? `thead th[data-sort="${heading.dataset.sort}"] a` : null;
  };

  const refresh = async () => {
    if (stopped) return;
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    const url = currentUrl();
    try {
      const response = await fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
        signal: controller.signal,
      });
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("worklist");
      if (!response.ok || !fresh) {
        stopped = !fresh; // the session ended (the login page came back): stop until a reload
        status.textContent = fresh ? "Refresh failed; retrying." : "Not refreshed: log in again (reload the page).";
        return;
      }
      const key = focusKey();
      const x = window.scrollX;
      const y = window.scrollY;
      table.tHead.replaceWith(fresh.tHead);
      table.tBodies[0].replaceWith(fresh.tBodies[0]);
      if (key && table.querySelector(key)) table.querySelector(key).focus({ preventScroll: true });
      window.scrollTo(x, y);
      if (url !== `${location.pathname}${location.search}`) history.replaceState(null, "", url);
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      table.dataset.refreshedAt = String(Date.now());
    } catch (error) {
      if (error.name !== "AbortError") status.textContent = "Refresh failed; retrying.";
    } finally {
      if (inFlight === controller) inFlight = null;
    }
  };

  setInterval(() => {
    if (document.visibilityState === "visible") refresh();
  }, periodMs);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refresh();
  });
  let typing = null;
  if (search) {
    search.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(refresh, 300);
    });
  }
  window.januscxrWorklist = { refresh };
})();
