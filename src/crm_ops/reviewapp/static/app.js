// crm-ops review: saves each decision as it is made (JSON POSTs with the page's CSRF token and the
// review state's version), then shows the page again. Our own code, no framework, no inline script.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const state = document.getElementById("state");
  const banner = document.getElementById("banner");
  const who = document.getElementById("reviewer");
  const saved = localStorage.getItem("crm-ops-reviewer");
  if (saved && who) who.value = saved;
  if (who) who.addEventListener("change", () => localStorage.setItem("crm-ops-reviewer", who.value.trim()));

  function say(text, kind) {
    banner.textContent = text;
    banner.className = "banner " + (kind || "");
    banner.hidden = false;
  }

  function seenOf(ids) {
    const out = {};
    if (state && state.dataset.seen) Object.assign(out, JSON.parse(state.dataset.seen));
    for (const id of ids) {
      const row = document.querySelector('li.row[data-id="' + CSS.escape(id) + '"]');
      if (row) out[id] = row.dataset.version;
    }
    return out;
  }

  async function post(path, body) {
    const answer = await fetch(path, {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf,
                "X-Reviewer": who ? who.value.trim() : ""},
      body: JSON.stringify({etag: state ? state.dataset.etag : "", ...body}),
      credentials: "same-origin",
    });
    const data = await answer.json().catch(() => ({problems: [answer.statusText]}));
    return {status: answer.status, data};
  }

  async function save(path, body) {
    const {status, data} = await post(path, body);
    if (status === 200) { location.reload(); return true; }
    say((status === 409 ? "Not saved: " : "Refused: ") + (data.problems || []).join("; "),
        status === 409 ? "stale" : "refused");
    return false;
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.answer) {
      const id = button.closest("[data-id]").dataset.id;
      save("/api/decide", {ids: [id], answer: button.dataset.answer, seen: seenOf([id])});
    } else if (button.dataset.bulk) {
      const ids = [...document.querySelectorAll("input.pick-row:checked")].map((x) => x.value);
      if (!ids.length) { say("Select rows first (the boxes at their left).", "refused"); return; }
      save("/api/decide", {ids, answer: button.dataset.bulk, seen: seenOf(ids)});
    } else if (button.dataset.ruleAnswer) {
      save("/api/decide", {filters: JSON.parse(button.dataset.filters), q: button.dataset.q,
                           answer: button.dataset.ruleAnswer});
    } else if (button.classList.contains("pick")) {
      const id = state.dataset.cluster;
      save("/api/pick", {id, field: button.dataset.field, from: button.dataset.from, seen: seenOf([])});
    }
  });

  for (const form of document.querySelectorAll("form.edit")) {
    const input = form.querySelector("input");
    const out = form.querySelector("output");
    let timer = null;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const {status, data} = await post("/api/edit", {id: form.dataset.id, value: input.value, check_only: true});
        out.textContent = status === 200 ? "passes the field's rules" : (data.problems || []).join("; ");
        out.className = "check " + (status === 200 ? "ok" : "refused");
      }, 250);
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const id = form.dataset.id;
      const ok = await save("/api/edit", {id, value: input.value, seen: seenOf([id])});
      if (!ok) { out.textContent = banner.textContent; out.className = "check refused"; }
    });
  }
})();

// apply and undo: started with a POST, then the job's state asked for every second until it ends
(function () {
  const section = document.getElementById("job");
  if (!section) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const who = document.getElementById("reviewer");
  function show(job) {
    const state = section.querySelector(".job-state");
    if (!job || job.state === "none") { state.textContent = "nothing run yet"; return; }
    state.textContent = job.kind + (job.write ? "" : " (dry run)") + ": " + job.state + " (" + job.seconds + " s)";
    state.dataset.state = job.state;
    const steps = section.querySelector(".job-steps");
    steps.replaceChildren(...Object.entries(job.steps).map(([label, [n, total]]) => {
      const li = document.createElement("li");
      li.textContent = label + ": " + n + (total ? " of " + total : "");
      return li;
    }));
    const lines = section.querySelector(".job-lines");
    const text = (job.problems || []).concat((job.result && job.result.lines) || []);
    lines.replaceChildren(...text.map((t) => { const li = document.createElement("li"); li.textContent = t; return li; }));
    if (job.state === "running") setTimeout(poll, 1000);
  }
  // a failed poll (the server busy, restarted, an answer that is not JSON) is said on the page, and
  // asked again: the page never freezes on "running"
  const banner = document.getElementById("banner");
  async function poll() {
    try {
      const answer = await fetch("/api/run", {credentials: "same-origin"});
      if (!answer.ok) throw new Error("the app answered " + answer.status);
      const job = await answer.json();
      banner.hidden = true;
      show(job);
    } catch (error) {
      banner.textContent = "could not ask for the run's progress (" + error.message + "); asking again";
      banner.className = "banner error";
      banner.hidden = false;
      setTimeout(poll, 2000);
    }
  }
  section.parentElement.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-run]");
    if (!button) return;
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    const answer = await fetch("/api/run", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf, "X-Reviewer": who ? who.value.trim() : ""},
      body: JSON.stringify({kind: button.dataset.run, write: button.dataset.write === "true"}),
    });
    const data = await answer.json();
    if (answer.status !== 202) { show({kind: button.dataset.run, write: false, state: "refused", seconds: 0, steps: {}, problems: data.problems}); return; }
    show(data);
  });
  const first = JSON.parse(section.dataset.job || "null");
  show(first);
})();
