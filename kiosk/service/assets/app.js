"use strict";
// Service mode's screen: polls /service/api/state and words it in the
// staff's language (de, en).
// The language is kept on the kiosk (POST /service/api/lang), so a
// restarted browser shows the staff's choice.
let lang = "de";
let keptLang = ""; // the kiosk's choice as last seen
let cat = {};
let st = null;
let tab = "devices";
let fix = null, step = 0;
let prevState = "";
const $ = (id) => document.getElementById(id);
const FIXES = {
  jam: { steps: ["fix.jam.1", "fix.jam.2", "fix.jam.3"], pics: ["pic-jam-1", "pic-jam-2", "pic-jam-3"], test: "test-scan" },
  rollers: { steps: ["fix.rollers.1", "fix.rollers.2"], pics: ["pic-rollers-1", "pic-rollers-2"], test: "test-scan" },
  paper: { steps: ["fix.paper.1", "fix.paper.2"], pics: ["pic-paper-1", "pic-paper-2"], test: "test-print" },
};

function t(key, args) {
  let s = cat[key] || key;
  for (const [k, v] of Object.entries(args || {})) s = s.split("{" + k + "}").join(v);
  return s;
}
async function loadLang(l) {
  const r = await fetch("/service/i18n/" + l + ".json");
  cat = await r.json();
  lang = l;
  document.documentElement.lang = l;
  document.querySelectorAll("[data-t]").forEach((e) => (e.textContent = t(e.dataset.t)));
  document.querySelectorAll("[data-lang]").forEach((b) => b.classList.toggle("sel", b.dataset.lang === l));
  render();
}
async function post(path, body) {
  const r = await fetch("/service/api/" + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
  let v = {};
  try { v = await r.json(); } catch (e) {}
  return { ok: r.ok, status: r.status, v };
}
function say(text, ok) {
  const m = $("message");
  m.textContent = text;
  m.className = "message " + (ok ? "ok" : "bad");
}
function errText(e) { return t("err." + e) !== "err." + e ? t("err." + e) : e; }
async function act(path, body) {
  const r = await post(path, body);
  if (!r.ok) say(t("result.failed", { error: errText(r.v.error) }), false);
  await refresh();
  return r;
}
function when(iso) {
  if (!iso || iso.startsWith("0001")) return t("never");
  return new Date(iso).toLocaleString(lang === "de" ? "de-DE" : "en-GB");
}
function render() {
  if (!st) return;
  const m = st.mode;
  // Service mode ended and the self-test passed: back to the customers.
  if (m.state === "closed" && prevState && prevState !== "closed") { location.href = "/"; return; }
  prevState = m.state;
  for (const id of ["closed", "testing", "locked", "open"]) $(id).hidden = true;
  switch (m.state) {
    case "closed": $("closed").hidden = false; break;
    case "testing": case "failed":
      $("testing").hidden = false;
      $("testing").querySelector("h2").textContent = t(m.state === "failed" ? "failed.title" : "testing.title");
      $("selftest").textContent = m.state === "failed" ? t("failed.text", { error: errText(m.self_test) }) : t("testing.text");
      break;
    case "locked": $("locked").hidden = false; $("wiped").hidden = !m.wiped; break;
    case "open": $("open").hidden = false; renderOpen(); break;
  }
  if (m.message) {
    const ok = !m.message.includes(".failed.");
    const parts = m.message.split(".failed.");
    say(ok ? t(m.message.replace(/^result\.(reset|out-of-service)\..*\.ok$/, "result.$1.ok")) : t("result.failed", { error: errText(parts[1]) }), ok);
  } else if (m.state !== "open") { $("message").textContent = ""; }
}
function li(light, name, sentence) {
  const e = document.createElement("li");
  e.innerHTML = '<span class="light"></span><b></b><span></span>';
  e.querySelector(".light").classList.add(light);
  e.querySelector(".light").setAttribute("role", "img");
  e.querySelector(".light").setAttribute("aria-label", t("light." + light));
  e.querySelector("b").textContent = name;
  e.querySelector("span:last-child").textContent = sentence;
  return e;
}
function renderOpen() {
  const m = st.mode;
  $("who").textContent = t("open.who." + m.who);
  $("idle").textContent = t("open.idle", { s: m.idle_left });
  document.querySelectorAll("[data-tab]").forEach((b) => b.classList.toggle("sel", b.dataset.tab === tab));
  for (const n of ["devices", "fixes", "counters", "oos", "bundle"]) $("tab-" + n).hidden = n !== tab;
  const dl = $("devices");
  dl.replaceChildren(...(st.devices || []).map((d) => {
    const a = Object.assign({}, d.args || {});
    if (a.error) a.error = errText(a.error);
    if ("feeder" in a) a.feeder = cat["feeder." + a.feeder] || t("feeder.unknown");
    for (const k of ["last", "oldest", "at"]) if (k in a) a[k] = a[k] ? when(a[k]) : t("none");
    if (d.id === "reader" && st.last_read) { a.at = when(st.last_read.at); a.kind = st.last_read.symbology; a.length = st.last_read.length; }
    const e = li(d.light, t("dev." + d.id), t(d.key, a) + (d.more ? " " + t(d.more, a) : ""));
    e.dataset.device = d.id;
    return e;
  }));
  const ct = $("counts");
  ct.replaceChildren(...["pages", "sheets", "jams", "double-feeds", "visits", "receipts"].map((k) => {
    const tr = document.createElement("tr");
    tr.innerHTML = "<td></td><td></td>";
    tr.children[0].textContent = t("count." + k);
    tr.children[1].textContent = String((st.counts || {})[k] || 0);
    tr.dataset.count = k;
    return tr;
  }));
  const cl = $("consumables");
  cl.replaceChildren(...Object.entries(st.consumables || {}).sort().map(([k, c]) => {
    const due = c.threshold > 0 && c.since >= c.threshold;
    const e = li(due ? "red" : c.since >= 0.9 * c.threshold ? "yellow" : "green", t("cons." + k), t("cons.line", c));
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = t("cons.reset");
    b.dataset.reset = k;
    b.onclick = () => act("reset", { consumable: k });
    e.appendChild(b);
    e.dataset.consumable = k;
    return e;
  }));
  $("oosstate").textContent = st.out_of_service ? t("oos.state.out", { reason: t("reason." + st.out_of_service) }) : t("oos.state.in");
  $("reasons").replaceChildren(...st.reasons.map((r) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "big" + (st.out_of_service === r ? " sel" : "");
    b.textContent = t("reason." + r);
    b.dataset.reason = r;
    b.onclick = () => act("out-of-service", { reason: r });
    return b;
  }));
  $("inservice").hidden = !st.out_of_service;
  renderFix();
}
function renderFix() {
  $("fix").hidden = !fix;
  if (!fix) return;
  const f = FIXES[fix];
  $("fixtitle").textContent = t("fix." + fix);
  $("stepno").textContent = t("fix.step", { n: step + 1, of: f.steps.length });
  $("picture").replaceChildren($(f.pics[step]).content.cloneNode(true));
  $("steptext").textContent = t(f.steps[step]);
  $("prevstep").disabled = step === 0;
  const last = step === f.steps.length - 1;
  $("nextstep").hidden = last;
  $("fixtest").hidden = !last;
  $("fixtest").textContent = t("fix." + f.test);
}
async function refresh() {
  try {
    const r = await fetch("/service/api/state");
    st = await r.json();
    // Follow the kiosk's choice when it changes (at the first answer, or
    // chosen elsewhere); an answer older than a choice made here is
    // still the old choice and changes nothing.
    if (st.lang && st.lang !== keptLang) {
      keptLang = st.lang;
      if (st.lang !== lang) await loadLang(st.lang);
    }
    render();
  } catch (e) {}
}
function setup() {
  document.querySelectorAll("[data-lang]").forEach((b) => (b.onclick = async () => {
    await loadLang(b.dataset.lang);
    const r = await post("lang", { lang: b.dataset.lang });
    if (r.ok) keptLang = b.dataset.lang;
  }));
  document.querySelectorAll("[data-tab]").forEach((b) => (b.onclick = () => { tab = b.dataset.tab; fix = null; $("message").textContent = ""; render(); }));
  document.querySelectorAll("[data-fix]").forEach((b) => (b.onclick = () => { fix = b.dataset.fix; step = 0; $("message").textContent = ""; render(); }));
  $("nextstep").onclick = () => { step++; render(); };
  $("prevstep").onclick = () => { step = Math.max(0, step - 1); render(); };
  $("fixtest").onclick = () => act(FIXES[fix].test);
  $("testscan").onclick = () => act("test-scan");
  $("testprint").onclick = () => act("test-print");
  $("testread").onclick = () => act("test-read");
  $("inservice").onclick = () => act("out-of-service", { reason: "" });
  $("logout").onclick = () => act("logout");
  $("bundle").onclick = async () => {
    const r = await act("bundle");
    if (r.ok) $("bundlefile").textContent = r.v.file;
  };
  const kp = document.querySelector(".keypad");
  for (const k of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "⌫", "0", "C"]) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = k;
    b.onclick = () => {
      const p = $("pin");
      if (k === "⌫") p.value = p.value.slice(0, -1);
      else if (k === "C") p.value = "";
      else if (p.value.length < 12) p.value += k;
    };
    kp.appendChild(b);
  }
  $("pinform").onsubmit = async (ev) => {
    ev.preventDefault();
    const r = await post("pin", { pin: $("pin").value });
    $("pin").value = "";
    $("pinerror").textContent = r.ok ? "" : t("pin." + r.v.error, { seconds: r.v.seconds });
    await refresh();
  };
  loadLang(lang);
  refresh();
  setInterval(refresh, 1000);
}
setup();
