// squall dashboard: refreshes the server-rendered tables from the REST API, keeps a short history per
// component for the throughput/latency charts, and sends the topology actions (after a confirmation).
// Plain JavaScript, no library, no build step.
"use strict";

(function () {
  var REFRESH_MS = 3000;
  var HISTORY_MS = 10 * 60 * 1000;
  var CAPACITY_HIGH = 0.8;
  var history = {}; // component -> [{t, emitted, latency}]

  function text(v) { return v === null || v === undefined ? "" : String(v); }

  function el(tag, cls, content) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (content !== undefined) e.textContent = content;
    return e;
  }

  // The twin of squall.web.pages.cell: keep the two alike.
  function cell(row, col, topoId) {
    var v = text(row[col.field]);
    var td, a;
    if (col.kind === "link" || col.kind === "topology") {
      td = el("td", "text");
      a = el("a", "", v);
      a.href = col.kind === "link"
        ? "component.html?topology_id=" + encodeURIComponent(topoId) + "&id=" + encodeURIComponent(v)
        : "topology.html?id=" + encodeURIComponent(text(row.id));
      td.appendChild(a);
      return td;
    }
    if (col.kind === "capacity") {
      return el("td", parseFloat(v) > CAPACITY_HIGH ? "num capacity high" : "num capacity", v);
    }
    if (col.kind === "status") {
      td = el("td", "text");
      td.appendChild(el("span", "status status-" + v.toLowerCase(), v));
      return td;
    }
    if (col.kind === "error") {
      td = el("td", "error", v.slice(0, 80));
      td.title = v;
      return td;
    }
    return el("td", col.kind === "text" ? "text" : "num", v);
  }

  function fillTable(table, rows) {
    var cols = JSON.parse(table.dataset.columns);
    var topoId = document.querySelector("[data-topology-id]");
    topoId = topoId ? topoId.dataset.topologyId : "";
    var tbody = document.createElement("tbody");
    if (!rows || rows.length === 0) {
      var tr = el("tr", "empty");
      var td = el("td", "", "none");
      td.colSpan = cols.length;
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
    (rows || []).forEach(function (row) {
      var tr = document.createElement("tr");
      cols.forEach(function (c) { tr.appendChild(cell(row, c, topoId)); });
      tbody.appendChild(tr);
    });
    table.replaceChild(tbody, table.tBodies[0]);
  }

  function fillKv(table, data) {
    table.querySelectorAll("td[data-f]").forEach(function (td) {
      var v = text(data[td.dataset.f]);
      if (td.dataset.kind === "status") {
        var span = td.querySelector("span");
        span.textContent = v;
        span.className = "status status-" + v.toLowerCase();
      } else {
        td.textContent = v;
      }
    });
  }

  function getJson(url) {
    return fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.errorMessage || body.error || r.statusText);
        return body;
      });
    });
  }

  function record(data) {
    var now = Date.now();
    (data.spouts || []).concat(data.bolts || []).forEach(function (c) {
      var id = c.spoutId || c.boltId;
      var h = history[id] || (history[id] = []);
      var latency = parseFloat(c.spoutId ? c.completeLatency : c.processLatency) || 0;
      // spouts: tuples emitted; bolts: tuples executed (a sink emits nothing)
      var count = Number(c.spoutId ? c.emitted : c.executed) || 0;
      h.push({ t: now, count: count, latency: latency });
      while (h.length && now - h[0].t > HISTORY_MS) h.shift();
    });
    drawCharts();
  }

  function polyline(points, cls, w, h, max) {
    var p = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    var t0 = points.length ? points[0][0] : 0;
    var span = points.length > 1 ? points[points.length - 1][0] - t0 : 1;
    p.setAttribute("class", cls);
    p.setAttribute("points", points.map(function (pt) {
      var x = span ? ((pt[0] - t0) / span) * (w - 4) + 2 : 2;
      var y = h - 14 - (max ? (pt[1] / max) * (h - 24) : 0);
      return x.toFixed(1) + "," + y.toFixed(1);
    }).join(" "));
    return p;
  }

  function label(x, y, content, cls) {
    var t = document.createElementNS("http://www.w3.org/2000/svg", "text");
    t.setAttribute("x", x);
    t.setAttribute("y", y);
    t.setAttribute("class", cls);
    t.textContent = content;
    return t;
  }

  function drawCharts() {
    document.querySelectorAll(".chart-box").forEach(function (box) {
      var svg = box.querySelector("svg.chart");
      var h = history[box.dataset.component] || [];
      var w = 300, ht = 110;
      var rates = [], lats = [];
      for (var i = 1; i < h.length; i++) {
        var dt = (h[i].t - h[i - 1].t) / 1000;
        var rate = dt > 0 ? Math.max(0, (h[i].count - h[i - 1].count) / dt) : 0;
        rates.push([h[i].t, rate]);
        lats.push([h[i].t, h[i].latency]);
      }
      var maxRate = Math.max.apply(null, [1].concat(rates.map(function (r) { return r[1]; })));
      var maxLat = Math.max.apply(null, [0.001].concat(lats.map(function (r) { return r[1]; })));
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      var axis = document.createElementNS("http://www.w3.org/2000/svg", "line");
      axis.setAttribute("x1", 0); axis.setAttribute("x2", w);
      axis.setAttribute("y1", ht - 14); axis.setAttribute("y2", ht - 14);
      axis.setAttribute("class", "axis");
      svg.appendChild(axis);
      svg.appendChild(polyline(rates, "rate", w, ht, maxRate));
      svg.appendChild(polyline(lats, "lat", w, ht, maxLat));
      var last = rates.length ? rates[rates.length - 1][1] : 0;
      var lastLat = lats.length ? lats[lats.length - 1][1] : 0;
      svg.appendChild(label(2, 10, "max " + maxRate.toFixed(0) + "/s", "tick"));
      svg.appendChild(label(w - 2, 10, "max " + maxLat.toFixed(2) + " ms", "tick end"));
      svg.appendChild(label(2, ht - 2, "now " + last.toFixed(1) + "/s", "tick rate-text"));
      svg.appendChild(label(w - 2, ht - 2, lastLat.toFixed(3) + " ms", "tick end lat-text"));
      box.dataset.points = String(rates.length);
    });
  }

  function refresh() {
    var state = document.getElementById("refresh-state");
    var tasks = {};
    document.querySelectorAll("table[data-source]").forEach(function (t) {
      var url = t.dataset.source.split("#")[0];
      (tasks[url] = tasks[url] || []).push(function (data) { fillTable(t, data[t.dataset.source.split("#")[1]]); });
    });
    document.querySelectorAll("table[data-endpoint]").forEach(function (t) {
      var url = t.dataset.endpoint;
      (tasks[url] = tasks[url] || []).push(function (data) { fillKv(t, data); });
    });
    var topo = document.getElementById("topology-summary");
    if (topo) tasks[topo.dataset.endpoint].push(record);
    var pending = Object.keys(tasks).map(function (url) {
      return getJson(url).then(function (data) { tasks[url].forEach(function (f) { f(data); }); });
    });
    Promise.all(pending).then(function () {
      state.textContent = "updated " + new Date().toLocaleTimeString();
      state.className = "refresh";
    }, function (err) {
      state.textContent = "refresh failed: " + err.message;
      state.className = "refresh failed";
    });
  }

  function action(name) {
    var box = document.getElementById("actions");
    var result = document.getElementById("action-result");
    var waitInput = document.getElementById("action-wait");
    var wait = waitInput ? parseInt(waitInput.value || "0", 10) : 0;
    var body = {};
    var url = box.dataset.api + "/" + name;
    if (name === "rebalance" || name === "kill") url += "/" + wait;
    if (name === "rebalance") {
      var executors = {};
      document.querySelectorAll(".rebalance-executors").forEach(function (i) {
        if (i.value) executors[i.dataset.component] = parseInt(i.value, 10);
      });
      var workers = document.getElementById("rebalance-workers").value;
      body.rebalanceOptions = { executors: executors };
      if (workers) body.rebalanceOptions.numWorkers = parseInt(workers, 10);
    }
    var name0 = document.querySelector("#topology-summary td[data-f=name]").textContent;
    var question = name.charAt(0).toUpperCase() + name.slice(1) + " topology " + name0 +
      (name === "rebalance" || name === "kill" ? " (wait " + wait + " s)" : "") + "?";
    if (!window.confirm(question)) return;
    result.textContent = name + "…";
    fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (b) { return [r.ok, b]; }); })
      .then(function (res) {
        result.textContent = res[0] ? name + ": " + res[1].status : name + " failed: " + (res[1].errorMessage || res[1].error);
        result.className = res[0] ? "result ok" : "result failed";
        refresh();
      }, function (err) {
        result.textContent = name + " failed: " + err.message;
        result.className = "result failed";
      });
  }

  // The pipeline page is rendered by the server from the store: fetch it again and swap its content.
  function refreshPipeline() {
    var state = document.getElementById("refresh-state");
    fetch(window.location.href, { cache: "no-store" }).then(function (r) { return r.text(); }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("pipeline-data");
      var here = document.getElementById("pipeline-data");
      if (fresh && here && document.activeElement.id !== "series") here.innerHTML = fresh.innerHTML;
      state.textContent = "updated " + new Date().toLocaleTimeString();
      state.className = "refresh";
    }, function (err) {
      state.textContent = "refresh failed: " + err.message;
      state.className = "refresh failed";
    });
  }
  if (document.getElementById("pipeline-data")) setInterval(refreshPipeline, 5000);

  document.querySelectorAll("#actions button[data-action]").forEach(function (b) {
    b.addEventListener("click", function () { action(b.dataset.action); });
  });
  if (document.querySelector("table[data-source], table[data-endpoint]")) {
    refresh();
    setInterval(refresh, REFRESH_MS);
  }
  window.squallDashboard = { refresh: refresh, history: history };
})();
