"use strict";
// The kiosk page. The visit's state comes pushed from the kiosk
// (Server-Sent Events on /api/events); this script shows the matching
// screen in the customer's language, moves the focus to new content and
// has it read aloud. It keeps nothing of a visit once the visit ends.

const LANGS = ["de", "de-x-ls", "en", "ar", "tr", "uk", "ru"];
const RTL = { ar: true };
const LOCALE = { "de": "de-DE", "de-x-ls": "de-DE", "en": "en-GB", "ar": "ar", "tr": "tr-TR", "uk": "uk-UA", "ru": "ru-RU" };
// Keys of the on-screen keypad: digits, letters, and the "//" of the
// BG-Nummer as one key.
const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "//",
  ..."ABCDEFGHIJKLMNOPQRSTUVWXYZ"];
const ENTRY_IDLE_MS = 90000; // the keypad forgets a number nobody finishes
const PICTURES = { "jam": "jam", "double-feed": "double-feed", "cover-open": "cover-open",
  "feeder-empty": "feeder-empty", "page-too-long": "page-too-long" };

const cat = {};
const ui = { lang: "de", entry: false, typed: "", askCancel: false, zoom: -1, big: false };
let view = null;
let pushed = -1;     // Seq of the newest view the events brought
let visit = "";
let shown = "";      // the screen or dialog last shown (for focus and speech)
let spokenCount = -1;
let entryTimer = 0;

const $ = (id) => document.getElementById(id);

function t(key, vars) {
  let s = (cat[ui.lang] || {})[key];
  if (s === undefined) s = (cat.de || {})[key];
  if (s === undefined) s = key;
  for (const [k, v] of Object.entries(vars || {})) s = s.split("{" + k + "}").join(String(v));
  return s;
}

function setT(el, key, vars) {
  el.dataset.t = key;
  el.dataset.vars = JSON.stringify(vars || {});
  el.textContent = t(key, vars);
}

function applyLang() {
  const html = document.documentElement;
  html.lang = ui.lang;
  html.dir = RTL[ui.lang] ? "rtl" : "ltr";
  for (const el of document.querySelectorAll("[data-t]")) {
    el.textContent = t(el.dataset.t, el.dataset.vars ? JSON.parse(el.dataset.vars) : {});
  }
  for (const el of document.querySelectorAll("[data-t-label]")) el.setAttribute("aria-label", t(el.dataset.tLabel));
  for (const b of document.querySelectorAll("button.lang")) {
    b.setAttribute("aria-pressed", String(b.dataset.lang === ui.lang));
  }
  html.classList.toggle("big", ui.big);
  $("bigger").setAttribute("aria-pressed", String(ui.big));
}

async function post(path, body) {
  try {
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}) });
    const v = await r.json();
    // An answer older than a view the events already brought (its scan
    // failed meanwhile, say) must not bring back what is gone.
    if (v && v.state && !(v.seq < pushed)) render(v);
    return r.ok;
  } catch (e) {
    return false; // the appliance restarts; the event stream catches up
  }
}

// forget drops everything of the visit that ended: typed digits, the
// language, the pages' pictures, open dialogs.
function forget() {
  Object.assign(ui, { lang: "de", entry: false, typed: "", askCancel: false, zoom: -1, big: false });
  $("pages").textContent = "";
  $("zoom-img").removeAttribute("src");
  $("receipt-qr").removeAttribute("src");
  $("typed").textContent = "";
  $("typed-full").textContent = "";
  for (const id of ["receipt-number", "receipt-time", "receipt-masked", "receipt-pages"]) $(id).textContent = "";
  clearTimeout(entryTimer);
  history.replaceState(null, "", "/");
  applyLang();
}

function screenOf(v) {
  if (ui.entry && ["idle", "identified", "review", "claim", "done"].includes(v.state)) return "keypad";
  return v.state;
}

function dialogOf(v) {
  if (v.error_key) return "error";
  if (v.idle_warning) return "idle-warning";
  if (ui.askCancel && (v.state === "review" || v.state === "identified")) return "ask-cancel";
  if (ui.zoom >= 0 && v.state === "review" && ui.zoom < v.pages.length) return "zoom";
  return "";
}

function render(v) {
  if (v.service) { location.href = "/service/"; return; } // the service key is turned: the staff's screen
  if (visit && v.visit !== visit) forget();
  visit = v.visit || "";
  if (v.state === "idle" && view && view.state !== "idle" && !ui.entry) forget();
  view = v;
  const screen = screenOf(v);
  document.body.dataset.state = v.state;
  document.body.dataset.screen = screen;
  for (const s of document.querySelectorAll(".screen")) s.hidden = s.id !== "screen-" + screen;
  for (const m of document.querySelectorAll(".masked")) m.textContent = v.masked || "";
  $("sim-form").hidden = !v.sim;
  for (const p of document.querySelectorAll(".printer-notice")) p.hidden = !v.printer_key;
  $("scan-first").disabled = !!v.not_ready;
  $("not-ready").hidden = !v.not_ready;
  const reason = /^out-of-service\.[a-z-]+$/.test(v.not_ready_reason || "") ? "reason." + v.not_ready_reason : "";
  $("not-ready-reason").hidden = !reason || t(reason) === reason;
  if (reason) setT($("not-ready-reason"), reason);
  for (const b of document.querySelectorAll("#screen-idle .to-keypad")) b.disabled = !!v.not_ready;
  // Out of service: no invitation to hold a barcode or type a number, only
  // what the notices say (where to go instead).
  for (const e of document.querySelectorAll("#screen-idle .lead, #screen-idle .actions, #screen-idle .hint")) e.hidden = !!v.not_ready;
  // A dead barcode reader: no invitation to hold a barcode under it; the
  // notice points to the keypad.
  $("reader-down").hidden = !v.reader_down || !!v.not_ready;
  if (v.reader_down) $("screen-idle").querySelector(".lead").hidden = true;
  $("typed").textContent = ui.typed;
  $("typed-full").textContent = v.typed || "";
  setT($("scan-count"), "scanning.count", { n: v.scanned });
  $("stopping").hidden = !v.stopping;
  $("stop").disabled = !!v.stopping;
  renderReview(v);
  $("claim-number").textContent = v.claim_masked || "";
  setT($("claim-countdown"), "claim.countdown", { n: v.countdown || 0 });
  setT($("idle-countdown"), "idlewarn.countdown", { n: v.countdown || 0 });
  renderDone(v);
  const dialog = dialogOf(v);
  for (const id of ["error", "idle-warning", "ask-cancel", "zoom"]) $(id).hidden = id !== dialog;
  $("main").inert = !!dialog;
  if (dialog === "error") renderError(v);
  if (dialog === "zoom") renderZoom(v);
  const key = screen + "/" + dialog + "/" + (v.error_key || "") + "/" + ui.lang;
  if (key !== shown) {
    shown = key;
    spokenCount = v.countdown || -1;
    const target = dialog ? $(dialog).querySelector("h2") : $("screen-" + screen).querySelector("h1");
    if (target) target.focus();
    say();
  } else if (v.countdown && v.countdown !== spokenCount && (v.countdown <= 5 || v.countdown % 5 === 0)) {
    spokenCount = v.countdown;
    speak(String(v.countdown));
  }
}

function renderReview(v) {
  $("prefilled").hidden = !v.prefilled;
  // The choice and the missing pages have their own panels.
  const warn = v.warning === "several-numbers" ? v.warning : "";
  $("warning").hidden = !warn;
  if (warn) setT($("warning"), "warn." + warn);
  $("review-number").hidden = !v.masked;
  $("need-number").hidden = !!v.masked || v.state !== "review";
  const choices = v.choices || [];
  $("choose").hidden = choices.length === 0;
  const box = $("choices");
  box.textContent = "";
  for (const c of choices) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "choice";
    const n = document.createElement("b");
    n.className = "number";
    n.dir = "ltr";
    n.lang = "de";
    n.textContent = c.masked;
    const why = document.createElement("span");
    setT(why, c.from_pages ? "choose.frompages" : "choose.given");
    b.append(n, " ", why);
    b.addEventListener("click", () => post("/api/choose/" + c.index));
    box.append(b);
  }
  const missing = v.missing || [];
  $("missing").hidden = missing.length === 0;
  const ml = $("missing-list");
  ml.textContent = "";
  for (const m of missing) {
    const li = document.createElement("li");
    const p = document.createElement("span");
    setT(p, m.side === "back" ? "missing.back" : "missing.front", { sheet: m.sheet });
    const b = document.createElement("button");
    b.type = "button";
    setT(b, "missing.rescan", { sheet: m.sheet });
    b.addEventListener("click", () => post("/api/rescan/" + m.sheet));
    li.append(p, " ", b);
    ml.append(li);
  }
  setT($("count"), "review.count", { kept: v.kept, scanned: v.scanned });
  $("confirm").disabled = v.kept === 0 || !v.masked || choices.length > 0;
  renderPages(v);
}

let lastPreview = -1;
function renderPages(v) {
  const box = $("pages");
  if (v.state !== "review") { box.textContent = ""; lastPreview = -1; return; }
  if (lastPreview !== v.preview || box.children.length !== v.pages.length) {
    box.textContent = "";
    for (const p of v.pages) {
      const li = document.createElement("li");
      li.className = "page";
      const img = document.createElement("img");
      img.src = thumbURL(v, p.index, 320);
      img.width = 320;
      const state = document.createElement("p");
      state.className = "state";
      const zoom = document.createElement("button");
      zoom.type = "button";
      zoom.className = "zoom";
      zoom.addEventListener("click", () => { ui.zoom = p.index; render(view); });
      const toggle = document.createElement("button");
      toggle.type = "button";
      toggle.className = "toggle";
      toggle.addEventListener("click", () => post("/api/toggle/" + p.index));
      li.append(img, state, zoom, toggle);
      box.append(li);
    }
    lastPreview = v.preview;
  }
  for (const p of v.pages) {
    const li = box.children[p.index];
    const vars = { n: p.index + 1, sheet: p.sheet };
    li.classList.toggle("removed", !p.kept);
    li.querySelector("img").alt = t(p.side === "back" ? "page.alt.back" : "page.alt.front", vars);
    li.querySelector("img").dataset.t = "";
    setT(li.querySelector(".state"), p.kept ? "page.kept" : (p.blank ? "page.blank" : "page.removed"));
    setT(li.querySelector(".zoom"), "page.zoom", vars);
    setT(li.querySelector(".toggle"), p.kept ? "page.remove" : "page.restore", vars);
  }
}

function thumbURL(v, i, w) {
  return "/api/thumb/" + encodeURIComponent(v.thumbs || "none") + "/" + i + "?w=" + w + "&g=" + v.preview;
}

function renderZoom(v) {
  const p = v.pages[ui.zoom];
  setT($("zoom-title"), "page.zoomtitle", { n: ui.zoom + 1, sheet: p.sheet });
  const src = thumbURL(v, ui.zoom, 640);
  if ($("zoom-img").getAttribute("src") !== src) $("zoom-img").src = src;
  $("zoom-img").alt = t(p.side === "back" ? "page.alt.back" : "page.alt.front", { n: ui.zoom + 1, sheet: p.sheet });
}

function renderError(v) {
  setT($("error-text"), "err." + v.error_key);
  const pic = $("error-picture");
  const want = PICTURES[v.error_key] || "help";
  if (pic.dataset.key !== want) {
    pic.textContent = "";
    const svg = $("pictures").content.querySelector('[data-key="' + want + '"]');
    pic.append(svg.cloneNode(true));
    pic.dataset.key = want;
  }
}

function renderDone(v) {
  const r = v.receipt;
  if (!r) return;
  $("receipt-number").textContent = r.Number;
  $("receipt-time").textContent = new Date(r.Accepted).toLocaleString(LOCALE[ui.lang]);
  $("receipt-masked").textContent = r.Masked || "";
  $("receipt-pages").textContent = String(r.Pages || "");
  const qr = $("receipt-qr");
  $("receipt-qr-box").hidden = !r.Statement;
  if (r.Statement && !qr.getAttribute("src")) qr.src = "/api/receipt-qr?v=" + encodeURIComponent(v.visit || "");
  qr.alt = t("receipt.qr.alt");
  const ps = $("print-state");
  if (v.printing) setT(ps, "print.printing");
  else if (v.print_error_key) setT(ps, "print.failed", { why: t("err." + v.print_error_key) });
  else if (v.printed) setT(ps, "print.done");
  else setT(ps, "print.screen");
  $("reprint").hidden = !(v.printed || v.print_error_key);
  $("reprint").disabled = !!v.printing;
}

// sayText is what a person who cannot see the screen hears: the dialog
// if one is open, else the screen, without the keypad's keys.
function sayText() {
  const open = ["error", "idle-warning", "ask-cancel", "zoom"].find((id) => !$(id).hidden);
  const root = open ? $(open) : document.querySelector(".screen:not([hidden])");
  if (!root) return "";
  const clone = root.cloneNode(true);
  for (const el of clone.querySelectorAll("[data-nosay], [hidden], svg")) el.remove();
  return clone.textContent.replace(/\s+/g, " ").trim();
}

function say() { speak(sayText()); }

// The panel keys beside the headphone jack (pushed as "key" events) and
// their keyboard equivalents do what Tab, Shift+Tab, Enter and the
// Vorlesen / Leiser / Lauter buttons do, so the kiosk can be used without
// sight. Each move of the focus says the control now in focus.
const FOCUSABLE = 'button, input, select, textarea, a[href], [tabindex]:not([tabindex="-1"])';

function focusables() {
  return [...document.querySelectorAll(FOCUSABLE)].filter((el) =>
    !el.disabled && !el.closest("[inert], [hidden]") && el.getClientRects().length > 0);
}

function labelOf(el) {
  return (el.getAttribute("aria-label") || el.value && el.tagName === "INPUT" && el.value || el.textContent || "")
    .replace(/\s+/g, " ").trim();
}

function moveFocus(step) {
  const all = focusables();
  if (all.length === 0) return;
  const at = all.indexOf(document.activeElement);
  let i;
  if (at >= 0) i = (at + step + all.length) % all.length;
  else {
    // From a heading (the new screen's focus), the next control after it
    // in reading order, as Tab would.
    const after = all.findIndex((el) => document.activeElement &&
      (document.activeElement.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING));
    i = step > 0 ? (after >= 0 ? after : 0) : (after > 0 ? after - 1 : all.length - 1);
  }
  all[i].focus();
  speak(labelOf(all[i]));
}

function activate() {
  const el = document.activeElement;
  if (el && el.matches("button, a[href], input[type=submit]") && !el.disabled) el.click();
  else say();
}

function volume(delta) { return post("/api/volume", { delta: delta }).then(say); }

const PANEL = {
  key_prev: () => moveFocus(-1), key_next: () => moveFocus(1), key_select: activate,
  key_repeat: say, key_volume_up: () => volume(1), key_volume_down: () => volume(-1),
};
// A USB audio-navigation keypad sends keys; the keypad screen's letters
// and digits are not among them.
// Left and right follow the reading direction (in Arabic, left is next).
const KEYBOARD = { ArrowUp: "key_prev", ArrowLeft: "key_prev", ArrowDown: "key_next", ArrowRight: "key_next",
  F2: "key_repeat", F3: "key_volume_down", F4: "key_volume_up" };

function keyboardKey(key) {
  const name = KEYBOARD[key];
  if (RTL[ui.lang] && (key === "ArrowLeft" || key === "ArrowRight")) return name === "key_prev" ? "key_next" : "key_prev";
  return name;
}

function panelKey(name) {
  const f = PANEL[name];
  if (f) f();
}

function speak(text) {
  if (text) post("/api/speak", { lang: ui.lang, text: text });
}

// The keypad.
function buildKeys() {
  const box = $("keys");
  for (const k of KEYS) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "key" + (k === "//" ? " wide" : "");
    b.textContent = k;
    b.lang = "de";
    if (k === "//") { b.dataset.tLabel = "keypad.slashes"; }
    b.addEventListener("click", () => press(k));
    box.append(b);
  }
}

function press(k) {
  if (ui.typed.length < 20) ui.typed += k;
  entryActive();
  render(view);
}

function entryActive() {
  clearTimeout(entryTimer);
  entryTimer = setTimeout(() => { if (ui.entry) { forget(); render(view); } }, ENTRY_IDLE_MS);
}

function openKeypad() {
  ui.entry = true;
  ui.typed = "";
  entryActive();
  render(view);
}

function closeKeypad() {
  ui.entry = false;
  ui.typed = "";
  clearTimeout(entryTimer);
  render(view);
}

function wire() {
  for (const b of document.querySelectorAll(".to-keypad")) b.addEventListener("click", openKeypad);
  $("key-back").addEventListener("click", () => {
    ui.typed = ui.typed.endsWith("//") ? ui.typed.slice(0, -2) : ui.typed.slice(0, -1);
    entryActive();
    render(view);
  });
  $("key-clear").addEventListener("click", () => { ui.typed = ""; render(view); });
  $("key-cancel").addEventListener("click", closeKeypad);
  $("key-ok").addEventListener("click", async () => {
    const typed = ui.typed;
    if (await post("/api/type", { number: typed })) closeKeypad();
  });
  document.addEventListener("keydown", (e) => {
    if (document.body.dataset.screen !== "keypad" || !$("error").hidden) return;
    if (/^[0-9a-zA-Z]$/.test(e.key)) press(e.key.toUpperCase());
    else if (e.key === "/") { if (!ui.typed.endsWith("/")) press("//"); }
    else return;
    e.preventDefault();
  });
  $("accept").addEventListener("click", () => post("/api/accept"));
  $("retype").addEventListener("click", () => { openKeypad(); post("/api/retype"); });
  $("scan").addEventListener("click", () => post("/api/scan"));
  $("scan-first").addEventListener("click", () => post("/api/scan"));
  $("stop").addEventListener("click", () => post("/api/stop"));
  $("more").addEventListener("click", () => post("/api/scan"));
  $("confirm").addEventListener("click", () => post("/api/confirm"));
  $("not-mine").addEventListener("click", () => post("/api/notmine"));
  $("reprint").addEventListener("click", () => post("/api/reprint"));
  $("finish").addEventListener("click", () => post("/api/cancel"));
  for (const b of document.querySelectorAll(".ask-cancel")) {
    b.addEventListener("click", () => {
      if (view.state === "review") { ui.askCancel = true; render(view); } else post("/api/cancel");
    });
  }
  $("cancel-yes").addEventListener("click", () => { ui.askCancel = false; post("/api/cancel"); });
  $("cancel-no").addEventListener("click", () => { ui.askCancel = false; render(view); });
  $("dismiss").addEventListener("click", () => post("/api/dismiss"));
  $("still-here").addEventListener("click", () => post("/api/still-here"));
  $("zoom-close").addEventListener("click", () => { ui.zoom = -1; render(view); });
  $("say-again").addEventListener("click", say);
  $("softer").addEventListener("click", () => volume(-1));
  $("louder").addEventListener("click", () => volume(1));
  $("bigger").addEventListener("click", () => { ui.big = !ui.big; applyLang(); });
  for (const b of document.querySelectorAll("button.lang")) {
    b.addEventListener("click", () => {
      ui.lang = b.dataset.lang;
      applyLang();
      post("/api/lang", { lang: ui.lang });
      if (view) render(view);
    });
  }
  $("sim-form").addEventListener("submit", (e) => {
    e.preventDefault();
    post("/api/sim/barcode", { number: $("sim-code").value });
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && ui.zoom >= 0) { ui.zoom = -1; render(view); }
    else if (KEYBOARD[e.key] && !(e.target && e.target.matches("input, textarea, select"))) {
      e.preventDefault();
      panelKey(keyboardKey(e.key));
    }
  });
}

async function start() {
  await Promise.all(LANGS.map(async (l) => {
    const r = await fetch("i18n/" + l + ".json");
    cat[l] = await r.json();
  }));
  buildKeys();
  wire();
  applyLang();
  const events = new EventSource("/api/events");
  events.onmessage = (e) => {
    const v = JSON.parse(e.data);
    pushed = v.seq; // the events come in order; after a restart they start again
    render(v);
  };
  events.addEventListener("key", (e) => panelKey(JSON.parse(e.data).key));
  document.body.dataset.ready = "1";
}
start();
// A kiosk offers no context menu (long press, right click): nothing to
// open, copy or inspect.
document.addEventListener("contextmenu", (e) => e.preventDefault());
