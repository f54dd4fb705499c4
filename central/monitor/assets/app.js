// Live updates: the server says what changed over server-sent events; the
// page fetches the changed part again (the same HTML the server renders).
(function () {
  var live = document.body.dataset.live;
  if (!live || !window.EventSource) return;
  var parts = {
    fleet: [["fleet-rows", "/fleet/rows"], ["summary", "/fleet/summary"]],
    alarms: [["alarm-list", "/alarms/table"]],
    commands: [["audit", "/commands/log"]],
  };
  var busy = {};
  function refresh(kind) {
    var list = parts[kind];
    if (!list || busy[kind]) return;
    busy[kind] = true;
    Promise.all(list.map(function (p) {
      var el = document.getElementById(p[0]);
      if (!el) return null;
      return fetch(p[1] + location.search, { credentials: "same-origin" }).then(function (r) {
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
