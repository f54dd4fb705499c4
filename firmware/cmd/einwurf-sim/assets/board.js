"use strict";
// The simulation page's board controls: the service key, the tamper
// switch, the staff badge reader, the scanner's power and the customers'
// barcode reader's state.
async function post(path, body, what) {
  const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  document.getElementById("board-state").textContent = what + (r.ok ? " ✓" : " ✗ " + (await r.text()));
}
const board = (signal, asserted, what) => () => post("/sim/api/board", {signal, asserted}, what);
document.getElementById("key-on").addEventListener("click", board("service_key", true, "Schlüssel gedreht"));
document.getElementById("key-off").addEventListener("click", board("service_key", false, "Schlüssel zurück"));
document.getElementById("tamper-on").addEventListener("click", board("tamper", true, "Gehäuse offen"));
document.getElementById("tamper-off").addEventListener("click", board("tamper", false, "Gehäuse zu"));
document.getElementById("badge-read").addEventListener("click",
  () => post("/sim/api/badge", {number: document.getElementById("badge").value.trim()}, "Ausweis gelesen"));
document.getElementById("power-off").addEventListener("click", () => post("/sim/api/scanner/power", {on: false}, "Scanner aus"));
document.getElementById("power-on").addEventListener("click", () => post("/sim/api/scanner/power", {on: true}, "Scanner ein"));
document.getElementById("reader-set").addEventListener("click", () => {
  const sel = document.getElementById("reader-state");
  post("/sim/api/reader", {state: sel.value}, "Barcode-Leser: " + sel.options[sel.selectedIndex].text);
});
for (const b of document.querySelectorAll("button.panel-key")) {
  b.addEventListener("click", () => post("/sim/api/key", {key: b.dataset.key}, b.textContent));
}
