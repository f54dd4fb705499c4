// Live updates: the server says what changed over server-sent events; the
// page fetches the changed parts again (the same HTML the server renders).
// A part is an element with data-refresh (its URL) and data-on (the kinds
// of change it follows). Times shown as "… ago" are kept current here,
// without fetching anything.
(function () {
  // The server's clock at render time, so "ago" does not depend on the
  // browser's clock being right.
  var skew = (Number(document.body.dataset.now) || Date.now()) - Date.now();
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function when(t) {
    return t.getUTCFullYear() + "-" + pad(t.getUTCMonth() + 1) + "-" + pad(t.getUTCDate()) + " " +
      pad(t.getUTCHours()) + ":" + pad(t.getUTCMinutes()) + ":" + pad(t.getUTCSeconds()) + " UTC";
  }
  // As the server's Monitor.ago.
  function ago(t) {
    var d = (Date.now() + skew - t.getTime()) / 1000;
    if (d < 0) return when(t);
    if (d < 90) return Math.floor(d) + " s ago";
    if (d < 90 * 60) return Math.floor(d / 60) + " min ago";
    if (d < 48 * 3600) return Math.floor(d / 3600) + " h ago";
    return when(t);
  }
  function tick() {
    document.querySelectorAll("time[data-ago]").forEach(function (el) {
      var t = new Date(el.getAttribute("datetime"));
      if (isNaN(t)) return;
      var s = ago(t);
      if (el.textContent !== s) el.textContent = s;
    });
  }
  setInterval(tick, 2000);

  var live = document.body.dataset.live;
  if (!live || !window.EventSource) return;
  var busy = {};
  function refresh(kind) {
    if (busy[kind]) return;
    busy[kind] = true;
    var els = document.querySelectorAll('[data-refresh][data-on~="' + kind + '"]');
    Promise.all(Array.prototype.map.call(els, function (el) {
      return fetch(el.dataset.refresh + location.search, { credentials: "same-origin" }).then(function (r) {
        if (r.status === 401) { location.reload(); return; }
        return r.text().then(function (t) { if (r.ok) el.innerHTML = t; });
      });
    })).finally(function () { busy[kind] = false; });
  }
  var es = new EventSource("/events");
  live.split(" ").forEach(function (kind) {
    es.addEventListener(kind, function () { refresh(kind); });
  });
  es.addEventListener("open", function () { live.split(" ").forEach(refresh); });
})();
