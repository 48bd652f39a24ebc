"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

  function addItemRows() {
    const button = document.getElementById("add-item");
    const body = document.querySelector("#items tbody");
    if (!button || !body) return;
    button.hidden = false;
    button.addEventListener("click", () => {
      const rows = body.querySelectorAll("tr.item-row");
      const index = rows.length;
      const row = rows[rows.length - 1].cloneNode(true);
      row.querySelectorAll("input").forEach((input) => {
        input.name = input.name.replace(/^items\.\d+\./, `items.${index}.`);
        input.setAttribute("aria-label", input.getAttribute("aria-label").replace(/Item \d+/, `Item ${index + 1}`));
        input.value = "";
        input.removeAttribute("aria-invalid");
        input.removeAttribute("aria-describedby");
      });
      row.querySelectorAll("td[data-label]").forEach((cell) => {
        cell.dataset.label = cell.dataset.label.replace(/^Item \d+/, `Item ${index + 1}`);
      });
      row.querySelectorAll(".field-error").forEach((node) => node.remove());
      body.appendChild(row);
      row.querySelector("input").focus();
    });
  }

  function importWithProgress() {
    const form = document.getElementById("import-form");
    if (!form) return;
    const fileInput = document.getElementById("import-file");
    const progress = document.getElementById("import-progress");
    const bar = document.getElementById("import-bar");
    const status = document.getElementById("import-status");
    const result = document.getElementById("import-result");
    form.addEventListener("submit", (event) => {
      const file = fileInput.files[0];
      if (!file) return;
      event.preventDefault();
      const request = new XMLHttpRequest();
      request.open("POST", "/api/sales/import");
      request.setRequestHeader("X-CSRF-Token", csrf);
      request.setRequestHeader("Content-Type", file.name.endsWith(".json") && !file.name.endsWith("l.json") ? "application/json" : "application/x-ndjson");
      progress.hidden = false;
      bar.style.width = "0%";
      status.textContent = `Uploading ${file.name}…`;
      request.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) {
          const percent = Math.round((e.loaded / e.total) * 100);
          bar.style.width = `${percent}%`;
          status.textContent = percent < 100 ? `Uploading… ${percent}%` : "Uploaded; importing…";
        }
      });
      request.addEventListener("load", () => {
        bar.style.width = "100%";
        let body = null;
        try { body = JSON.parse(request.responseText); } catch (e) { body = null; }
        if (request.status >= 200 && request.status < 300 && body) {
          const seen = ["created", "updated", "unchanged", "rejected"].reduce((sum, key) => sum + (body[key] || 0), 0);
          status.textContent = seen ? `Import finished: ${file.name}` : `${file.name} held no sales: nothing was imported.`;
          const empty = document.getElementById("import-empty");
          if (empty) empty.hidden = seen > 0;
          for (const key of ["created", "updated", "unchanged", "rejected"]) {
            const node = result.querySelector(`[data-count="${key}"]`);
            if (node) node.textContent = body[key] ?? 0;
          }
          const list = document.getElementById("import-errors");
          list.replaceChildren(...(body.errors || []).slice(0, 50).map((e) => {
            const item = document.createElement("li");
            item.textContent = `Line ${e.line}: ${e.reason}`;
            return item;
          }));
          result.hidden = false;
        } else {
          status.textContent = `Import failed: ${(body && (body.detail || body.title)) || request.statusText}`;
        }
      });
      request.addEventListener("error", () => { status.textContent = "Import failed: the connection was lost."; });
      request.send(file);
    });
  }

  function refreshPanel() {
    const panel = document.querySelector("[data-refresh]");
    if (!panel) return;
    const url = panel.dataset.refresh;
    setInterval(async () => {
      try {
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
        if (response.status === 401 || response.status === 403 || response.redirected) {
          // The session ended or changed: load the whole page again, which leads to sign in.
          window.location.reload();
        } else if (response.ok) {
          panel.innerHTML = await response.text();
          markScrollableTables();
        }
      } catch (e) { /* keep the last view */ }
    }, 5000);
  }

  function pointToErrors() {
    // Every field error is tied to its input (pages that do not say so themselves), and focus goes
    // to the first invalid field, or else to the error message, so that it is read out first.
    document.querySelectorAll(".field-error[data-field][id]").forEach((error) => {
      const scope = error.closest("form") || document;
      const input = scope.querySelector(`[name="${CSS.escape(error.dataset.field)}"]`);
      if (input && !input.hasAttribute("aria-invalid")) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", error.id);
      }
    });
    const field = document.querySelector('main [aria-invalid="true"]');
    const message = document.querySelector("main .alert-error");
    if (field) {
      field.focus();
    } else if (message) {
      message.tabIndex = -1;
      message.focus();
    }
  }

  // A table wider than the screen scrolls sideways in its frame: the frame takes keyboard focus
  // (arrow keys scroll it) and is named after its table.
  function markScrollableTables() {
    document.querySelectorAll(".table-wrap").forEach((frame) => {
      const scrolls = frame.scrollWidth > frame.clientWidth + 1;
      if (scrolls && !frame.hasAttribute("tabindex")) {
        const table = frame.querySelector("table");
        const caption = table?.querySelector("caption")?.textContent
          || frame.closest("section")?.querySelector("h1, h2")?.textContent
          || document.querySelector("main h1")?.textContent || "Table";
        frame.tabIndex = 0;
        frame.setAttribute("role", "region");
        frame.setAttribute("aria-label", `${caption.trim()} (scrolls sideways)`);
      } else if (!scrolls && frame.getAttribute("role") === "region") {
        frame.removeAttribute("tabindex");
        frame.removeAttribute("role");
        frame.removeAttribute("aria-label");
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    markScrollableTables();
    window.addEventListener("resize", markScrollableTables);
    pointToErrors();
    addItemRows();
    importWithProgress();
    refreshPanel();
  });
})();
