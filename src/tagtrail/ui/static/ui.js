// tagtrail's pages: copy buttons, sortable tables, the live repository filter, the timeline.
// Plain JavaScript, no build step; every page works without it except copying and sorting.
"use strict";

function announce(text) {
  const status = document.getElementById("copy-status");
  if (status) status.textContent = text;
}

function copyFallback(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.appendChild(area);
  area.select();
  try { document.execCommand("copy"); } finally { area.remove(); }
}

function setupCopy() {
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const text = button.dataset.copy;
    const done = () => {
      button.dataset.copied = "true";
      announce("Copied " + text);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => { copyFallback(text); done(); });
    } else {
      copyFallback(text);
      done();
    }
  });
}

function setupSort() {
  for (const table of document.querySelectorAll("table.sortable")) {
    const headers = Array.from(table.tHead.rows[0].cells);
    headers.forEach((th, column) => {
      const button = th.querySelector("button[data-sort]");
      if (!button) return;
      button.addEventListener("click", () => {
        const ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach((other) => other.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const numeric = button.dataset.sort === "number";
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        rows.sort((a, b) => {
          const x = a.cells[column].dataset.value || "";
          const y = b.cells[column].dataset.value || "";
          const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
          return ascending ? order : -order;
        });
        rows.forEach((row) => body.appendChild(row));
      });
    });
  }
}

function setupFilter() {
  for (const input of document.querySelectorAll("input[data-filter]")) {
    const table = document.querySelector(input.dataset.filter);
    if (!table) continue;
    input.addEventListener("input", () => {
      const wanted = input.value.trim().toLowerCase();
      for (const row of table.tBodies[0].rows) {
        row.hidden = wanted !== "" && !(row.dataset.name || "").includes(wanted);
      }
    });
  }
}

function setupTimeline() {
  // A long timeline scrolls: show its newest end first, as the table below does.
  const box = document.querySelector(".timeline-scroll");
  if (box) box.scrollLeft = box.scrollWidth;
  const detail = document.getElementById("timeline-detail");
  if (!detail) return;
  for (const mark of document.querySelectorAll("#timeline .mark")) {
    const show = () => { detail.textContent = mark.dataset.detail; };
    mark.addEventListener("focus", show);
    mark.addEventListener("mouseenter", show);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setupCopy();
  setupSort();
  setupFilter();
  setupTimeline();
});
