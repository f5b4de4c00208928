// replygate console: live updates, keyboard shortcuts, the edit diff, the
// article side panel and lease countdowns. Plain JavaScript, no build step
// and no dependencies; every page works without it (forms post as usual).
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // --- live parts: re-read every [data-live] element when the queue changes ---
  // One refresh at a time; an event during one asks for another after it.
  let scheduled = null, running = false, again = false;
  async function refresh() {
    scheduled = null;
    if (running) { again = true; return; }
    running = true;
    try {
      for (const el of $$("[data-live]")) {
        let r;
        try {
          r = await fetch(el.dataset.live, { headers: { "x-fragment": "1" }, credentials: "same-origin", redirect: "manual" });
        } catch (e) {
          continue; // offline: the next event tries again
        }
        // Signed out (the session expired): show the sign-in page, not a fragment of it.
        if (r.type === "opaqueredirect" || r.status === 401) { location.reload(); return; }
        if (!r.ok) continue;
        const html = await r.text();
        const box = document.createElement("div");
        box.innerHTML = html;
        const fresh = box.firstElementChild;
        // Replace the contents, keep the element (and the selected row within it).
        const selected = $("[data-row].selected", el);
        const selectedId = selected ? selected.dataset.draft : null;
        el.innerHTML = fresh && fresh.dataset.live === el.dataset.live ? fresh.innerHTML : html;
        if (selectedId) {
          const row = $(`[data-row][data-draft="${CSS.escape(selectedId)}"]`, el);
          if (row) row.classList.add("selected");
        }
      }
      badge();
    } finally {
      running = false;
      if (again) { again = false; soon(); }
    }
  }
  // The tab says how many drafts wait, so an agent on another tab sees new ones.
  const title = document.title;
  function badge() {
    const count = $("[data-count=pending] strong");
    if (count) document.title = `(${count.textContent.trim()}) ${title}`;
  }
  badge();
  function soon() {
    if (scheduled === null) scheduled = setTimeout(refresh, 150);
  }
  if ($("[data-live]") && window.EventSource) {
    const source = new EventSource("/console/events");
    source.addEventListener("changed", soon);
    source.addEventListener("open", () => document.body.classList.remove("offline"));
    source.addEventListener("error", () => document.body.classList.add("offline"));
    // Ages and due times move on even when nothing happens.
    setInterval(soon, 30000);
  }

  // --- lease countdowns: one ticker for the page, whatever was refreshed ---
  function tick() {
    for (const el of $$("[data-countdown]")) {
      const left = Math.max(0, Math.round((Number(el.dataset.countdown) - Date.now()) / 1000));
      el.textContent = left > 0 ? `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}` : "no time (the lease ran out)";
    }
  }
  if ($("[data-countdown]") || $("[data-live]")) setInterval(tick, 1000);
  tick();

  // --- the edit diff: the agent's text against the draft, word by word ---
  function words(s) {
    return s.split(/(\s+)/).filter((w) => w.length > 0);
  }
  function diff(a, b) {
    const n = a.length, m = b.length;
    if (n * m > 4000000) return [["ins", b.join("")]];
    const dp = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--)
      for (let j = m - 1; j >= 0; j--)
        dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
    // Between two unchanged stretches, everything removed reads as one
    // deletion and everything added as one insertion, not word salad.
    const out = [];
    let del = "", ins = "";
    const flush = () => {
      if (del) out.push(["del", del]);
      if (ins) out.push(["ins", ins]);
      del = ""; ins = "";
    };
    const same = (text) => {
      // A space alone between two changes belongs to the change.
      if ((del || ins) && /^\s+$/.test(text)) { del += text; ins += text; return; }
      flush();
      const last = out[out.length - 1];
      if (last && last[0] === "same") last[1] += text; else out.push(["same", text]);
    };
    let i = 0, j = 0;
    while (i < n && j < m) {
      if (a[i] === b[j]) { same(a[i]); i++; j++; }
      else if (dp[i + 1][j] >= dp[i][j + 1]) { del += a[i]; i++; }
      else { ins += b[j]; j++; }
    }
    while (i < n) del += a[i++];
    while (j < m) ins += b[j++];
    flush();
    return out;
  }
  const edit = $("#edited_body");
  const diffBox = $("#edit-diff");
  const preview = $("#preview-body");
  if (edit && diffBox) {
    const original = edit.dataset.original || "";
    const show = () => {
      diffBox.textContent = "";
      const parts = diff(words(original), words(edit.value));
      if (parts.every(([k]) => k === "same")) {
        diffBox.textContent = "No changes yet.";
      } else {
        for (const [kind, text] of parts) {
          const el = document.createElement(kind === "ins" ? "ins" : kind === "del" ? "del" : "span");
          el.textContent = text;
          diffBox.appendChild(el);
        }
      }
      if (preview) preview.textContent = edit.value.trim() || original;
    };
    // The diff is quadratic in words: computed once typing pauses.
    let typing = null;
    edit.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(show, 120);
    });
    show();
  }
  for (const ta of $$("textarea[data-submit-on-ctrl-enter]")) {
    ta.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        ta.form.requestSubmit();
      }
    });
  }

  // --- the side panel: an article beside the draft ---
  const panel = $("#panel");
  function closePanel() {
    if (panel) { panel.hidden = true; panel.innerHTML = ""; }
  }
  document.addEventListener("click", async (e) => {
    const link = e.target.closest("a[data-panel]");
    if (link && panel) {
      e.preventDefault();
      const r = await fetch(link.href, { headers: { "x-fragment": "1" }, credentials: "same-origin", redirect: "manual" });
      if (!r.ok) { location.href = link.href; return; } // the page says what is wrong
      panel.innerHTML = await r.text();
      panel.hidden = false;
      const close = $("[data-close-panel]", panel);
      if (close) close.focus();
      return;
    }
    if (e.target.closest("[data-close-panel]")) closePanel();
    if (e.target.closest("[data-help]")) $("#help").showModal();
  });

  // --- keyboard shortcuts (listed on every page, "?") ---
  let lastKey = "";
  function rows() { return $$("[data-row]"); }
  function move(step) {
    const all = rows();
    if (all.length === 0) return;
    const at = all.findIndex((r) => r.classList.contains("selected"));
    all.forEach((r) => r.classList.remove("selected"));
    const next = all[Math.min(all.length - 1, Math.max(0, at + step))];
    next.classList.add("selected");
    const a = $("a", next);
    if (a) a.focus();
  }
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { closePanel(); return; }
    const typing = e.target.closest("input, textarea, select");
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    const key = e.key;
    if (key === "?") { $("#help").showModal(); e.preventDefault(); return; }
    if (lastKey === "g" && key === "q") { location.href = "/console"; return; }
    lastKey = key;
    if (key === "j") { move(1); e.preventDefault(); return; }
    if (key === "k") { move(-1); e.preventDefault(); return; }
    const target = $(`[data-key="${CSS.escape(key)}"]`);
    if (!target) return;
    e.preventDefault();
    // Approving as written would drop an edit typed but not yet approved.
    if (key === "a" && edit && edit.value.trim() !== (edit.dataset.original || "").trim()
        && !confirm("Approve the draft as written, without your edit?")) return;
    if (target.matches("button")) target.click();
    else target.focus();
  });
})();
