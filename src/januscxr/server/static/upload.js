// The upload result page follows the AI reads of the files it stored: every 2 s it asks
// /api/ai-reads where each study stands, fills the "AI read" column, counts read, failed,
// refused and waiting studies, and names every file the AI failed or refused.
"use strict";

(() => {
  const cells = Array.from(document.querySelectorAll("#upload-results td.ai-read[data-study-id]"));
  const counts = document.querySelector("#ai-counts span");
  const unread = document.getElementById("unread-files");
  if (!cells.length) {
    if (counts) counts.textContent = "no study to read.";
    return;
  }
  const ids = [...new Set(cells.map((cell) => cell.dataset.studyId))];
  const POLL_MS = 2000;
  const PAGE = 200; // study ids per request (the API's limit)
  const GIVE_UP_MS = 10 * 60 * 1000;
  const started = Date.now();
  const WORDS = { done: "read", failed: "AI failed", refused: "AI refused", pending: "reading…", hidden: "—" };

  const render = (statuses) => {
    const byStudy = new Map(statuses.map((s) => [String(s.study_id), s]));
    const tally = { done: 0, failed: 0, refused: 0, pending: 0, hidden: 0 };
    const names = [];
    for (const cell of cells) {
      const s = byStudy.get(cell.dataset.studyId) || { ai_status: "pending", ai_error: null };
      tally[s.ai_status] = (tally[s.ai_status] || 0) + 1;
      cell.className = `ai-read ai-${s.ai_status}`;
      cell.dataset.aiStatus = s.ai_status;
      const badge = document.createElement("span");
      badge.className = ["failed", "refused"].includes(s.ai_status) ? `badge ${s.ai_status}` : "hint";
      badge.textContent = WORDS[s.ai_status] || s.ai_status;
      const parts = [badge];
      if (s.ai_error) parts.push(document.createTextNode(` ${s.ai_error}`));
      cell.replaceChildren(...parts);
      if (["failed", "refused"].includes(s.ai_status)) names.push(cell.closest("tr").querySelector(".name").textContent);
    }
    const words = [`${tally.done} read`, `${tally.failed} AI failed`, `${tally.refused} AI refused`];
    if (tally.hidden) words.push(`${tally.hidden} without AI (study mode)`);
    words.push(tally.pending ? `${tally.pending} still reading…` : "all done");
    counts.textContent = words.join(" · ");
    unread.hidden = !names.length;
    unread.textContent = names.length ? `No AI read (read these without AI): ${names.join(", ")}.` : "";
    return tally.pending;
  };

  const poll = async () => {
    const pages = [];
    for (let i = 0; i < ids.length; i += PAGE) pages.push(ids.slice(i, i + PAGE));
    let pending = 1;
    try {
      const answers = await Promise.all(
        pages.map(async (page) => {
          const query = page.map((id) => `study_id=${encodeURIComponent(id)}`).join("&");
          const response = await fetch(`/api/ai-reads?${query}`, { credentials: "same-origin" });
          if (!response.ok) throw new Error(response.statusText);
          return response.json();
        }),
      );
      pending = render(answers.flat());
    } catch (error) {
      counts.textContent = "could not ask the server; retrying…";
    }
    if (pending && Date.now() - started < GIVE_UP_MS) setTimeout(poll, POLL_MS);
    else document.body.dataset.aiReadsSettled = "true";
  };
  poll();
})();
