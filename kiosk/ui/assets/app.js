"use strict";
// The kiosk page: polls the visit's state and shows the matching screen.
const messages = {
  "invalid-number": "Diese Nummer ist ungültig. Bitte prüfen Sie die Eingabe. / This number is not valid.",
  "not-a-number": "Dieser Code ist keine gültige Nummer. / This code is not a valid number.",
  "jam": "Papierstau. Bitte öffnen Sie den Einzug und entnehmen Sie das Blatt. / Paper jam.",
  "feeder-empty": "Der Einzug ist leer. Bitte legen Sie Ihre Blätter ein. / The feeder is empty.",
  "cover-open": "Die Abdeckung ist offen. Bitte schließen Sie sie. / The cover is open.",
  "double-feed": "Es wurden mehrere Blätter gleichzeitig eingezogen. Bitte legen Sie sie erneut ein. / Several sheets were pulled in at once.",
  "busy": "Der Scanner ist beschäftigt. Bitte einen Moment Geduld. / The scanner is busy.",
  "offline": "Der Scanner ist nicht bereit. Bitte wenden Sie sich an den Empfang. / The scanner is not ready.",
  "unplugged": "Der Scanner ist nicht verbunden. Bitte wenden Sie sich an den Empfang. / The scanner is not connected.",
  "cannot-accept": "Dieses Gerät nimmt gerade keine Unterlagen an. / This kiosk cannot accept documents now.",
  "no-pages": "Es ist keine Seite zum Senden ausgewählt. / No page is selected.",
  "no-number": "Bitte geben Sie zuerst Ihre Nummer ein. / Please enter your number first.",
  "error": "Ein Fehler ist aufgetreten. Bitte versuchen Sie es erneut. / Something went wrong.",
};
const warnings = {
  "other-number": "Achtung: Die Seiten tragen eine andere Nummer als die eingegebene. / The pages carry a different number.",
  "several-numbers": "Die Seiten tragen verschiedene Nummern. Bitte geben Sie Ihre Nummer ein. / The pages carry different numbers; please enter yours.",
  "page": "Eine Seite konnte nicht gelesen werden; bitte scannen Sie sie erneut. / A page could not be read.",
};
// Why the kiosk is out of service (the central's command names a reason key).
const reasons = {
  "out-of-service.maintenance": "Wegen Wartung außer Betrieb. / Out of service for maintenance.",
  "out-of-service.technical-fault": "Wegen einer technischen Störung außer Betrieb. / Out of service: technical fault.",
  "out-of-service.closed": "Derzeit geschlossen. / Closed at the moment.",
};
let lastPreview = -1;
let lastError = "";

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (method === "POST") {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body || {});
  }
  const r = await fetch(path, opts);
  const v = await r.json();
  if (!r.ok) { showError(v.error_key); return null; }
  render(v);
  return v;
}

function showError(key) {
  const el = document.getElementById("error");
  lastError = key || "";
  el.textContent = key ? (messages[key] || messages.error) : "";
  el.hidden = !key;
}

function render(v) {
  for (const s of document.querySelectorAll(".screen")) s.hidden = s.id !== "screen-" + (v.state === "submitting" ? "review" : v.state);
  document.body.dataset.state = v.state;
  for (const m of document.querySelectorAll(".masked")) m.textContent = v.masked || "";
  document.getElementById("sim-form").hidden = !v.sim;
  document.getElementById("not-ready").hidden = !v.not_ready;
  const why = document.getElementById("not-ready-reason");
  why.textContent = reasons[v.not_ready_reason] || "";
  why.hidden = !why.textContent;
  document.getElementById("prefilled").hidden = !v.prefilled;
  document.getElementById("review-number-form").hidden = !!v.masked;
  document.getElementById("scan-count").textContent = v.scanned;
  document.getElementById("kept").textContent = v.kept;
  document.getElementById("scanned").textContent = v.scanned;
  const w = document.getElementById("warning");
  w.textContent = v.warning ? (warnings[v.warning] || "") : "";
  w.hidden = !v.warning;
  if (v.error_key) showError(v.error_key);
  else if (v.state !== "idle" || lastError !== "invalid-number") showError("");
  if (v.receipt) {
    document.getElementById("receipt-number").textContent = v.receipt.Number;
    document.getElementById("receipt-time").textContent = new Date(v.receipt.Accepted).toLocaleString("de-DE");
  }
  renderPages(v);
}

function renderPages(v) {
  const box = document.getElementById("pages");
  if (v.state !== "review") { box.textContent = ""; lastPreview = -1; return; }
  if (lastPreview !== v.preview || box.children.length !== v.pages.length) {
    box.textContent = "";
    for (const p of v.pages) {
      const d = document.createElement("button");
      d.className = "page";
      d.dataset.index = p.index;
      const img = document.createElement("img");
      img.src = "/api/thumb/" + encodeURIComponent(v.thumbs || "none") + "/" + p.index + "?w=240&g=" + v.preview;
      img.alt = "Seite " + (p.index + 1);
      const cap = document.createElement("span");
      d.append(img, cap);
      d.addEventListener("click", () => api("POST", "/api/toggle/" + p.index));
      box.append(d);
    }
    lastPreview = v.preview;
  }
  for (const p of v.pages) {
    const d = box.children[p.index];
    d.classList.toggle("removed", !p.kept);
    d.lastChild.textContent = "Blatt " + p.sheet + (p.side === "back" ? " Rückseite" : "") + (p.blank ? " (leer)" : "");
  }
}

document.getElementById("identify-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const n = document.getElementById("number");
  api("POST", "/api/identify", { number: n.value }).then((v) => { if (v) n.value = ""; });
});
document.getElementById("sim-form").addEventListener("submit", (e) => {
  e.preventDefault();
  api("POST", "/api/sim/barcode", { number: document.getElementById("sim-code").value });
});
document.getElementById("scan").addEventListener("click", () => api("POST", "/api/scan"));
document.getElementById("scan-first").addEventListener("click", () => api("POST", "/api/scan"));
document.getElementById("review-number-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const n = document.getElementById("review-number");
  api("POST", "/api/identify", { number: n.value }).then((v) => { if (v) n.value = ""; });
});
document.getElementById("more").addEventListener("click", () => api("POST", "/api/scan"));
document.getElementById("confirm").addEventListener("click", () => api("POST", "/api/confirm"));
document.getElementById("finish").addEventListener("click", () => api("POST", "/api/cancel"));
for (const b of document.querySelectorAll(".cancel")) b.addEventListener("click", () => api("POST", "/api/cancel"));

async function poll() {
  try { await api("GET", "/api/view"); } catch (e) { /* the appliance restarts; try again */ }
  setTimeout(poll, 500);
}
poll();
// A kiosk offers no context menu (long press, right click): nothing to
// open, copy or inspect.
document.addEventListener("contextmenu", (e) => e.preventDefault());
