"use strict";
// The simulation page: switch the scanner's device profile and trigger
// its faults while the kiosk's screen is in use in another window.
const labels = {
  "jam": "Papierstau", "double-feed": "Doppeleinzug", "cover-open": "Abdeckung offen",
  "empty": "Einzug leer", "disconnect": "Verbindung weg", "freeze": "Gerät hängt",
  "busy": "Gerät beschäftigt", "stop": "Gerät bricht ab",
  "page-too-long": "Blatt zu lang",
};

async function send(body) {
  const r = await fetch("/sim/api/scanner", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  if (r.ok) render(await r.json());
}

function button(parent, id, text, cls, on, click) {
  const b = document.createElement("button");
  b.id = id; b.textContent = text; b.className = cls + (on ? " on" : "");
  b.addEventListener("click", click);
  parent.appendChild(b);
}

function render(s) {
  const ps = document.getElementById("profiles");
  ps.textContent = "";
  for (const p of s.profiles) button(ps, "profile-" + p, p, "profile", p === s.profile, () => send({profile: p}));
  document.getElementById("description").textContent = s.description;
  const fs = document.getElementById("faults");
  fs.textContent = "";
  for (const f of s.faults) button(fs, "fault-" + f, labels[f] || f, "fault", f === s.fault,
    () => send({fault: f, sheet: Number(document.getElementById("sheet").value) || 2}));
  document.getElementById("state").textContent =
    "Profil " + s.profile + " · Fehler: " + (s.fault ? (labels[s.fault] || s.fault) : "keiner") + " · Blätter im Einzug: " + s.feeder;
  document.body.dataset.fault = s.fault || "";
  document.body.dataset.profile = s.profile;
}

document.getElementById("clear").addEventListener("click", () => send({fault: "clear"}));
fetch("/sim/api/scanner").then(r => r.json()).then(render);
