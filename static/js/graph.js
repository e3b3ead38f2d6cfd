// The code graph page and the chunk pages: draw the call graph with Cytoscape,
// load a node's code into the side panel, mark a found path. Plain script, no build step.
(function () {
  "use strict";

  // The same colours as the legend's swatches in mnemolite.css.
  var COLOURS = { start: "#2457c5", caller: "#c2410c", callee: "#0f766e", both: "#7c3aed" };
  // Spacing: between depths ("across"), between nodes of one depth ("along"), and how many
  // nodes a depth lines up before spilling into another line. A tall container (a phone) is
  // drawn top-down, a wide one left to right.
  var WIDE = { across: 230, along: 64, per: 12 };
  var TALL = { across: 90, along: 125, per: 3 };
  var focusPanel = false;

  // Callers before the start node, callees after it, a line of nodes per depth, so the drawing
  // reads "who calls it -> it -> what it calls" and is the same on every load.
  function layout(nodes, shape, vertical) {
    var lines = {};
    nodes.forEach(function (node) {
      var d = node.data;
      var key = d.role === "start" ? 0 : d.role === "caller" ? -d.depth : d.depth;
      (lines[key] = lines[key] || []).push(node);
    });
    var place = function (node, across, along) {
      node.position = vertical ? { x: along, y: across } : { x: across, y: along };
    };
    (lines[0] || []).forEach(function (node) { place(node, 0, 0); });
    [1, -1].forEach(function (side) {
      var used = 0;
      for (var depth = 1; depth <= 10; depth++) {
        var line = lines[side * depth];
        if (!line) continue;
        line.forEach(function (node, i) {
          var sub = Math.floor(i / shape.per);
          var count = Math.min(shape.per, line.length - sub * shape.per);
          place(node, side * (used + sub + 1) * shape.across, ((i % shape.per) - (count - 1) / 2) * shape.along);
        });
        used += Math.ceil(line.length / shape.per);
      }
    });
  }

  function style(shape) {
    var nodeStyle = {
      label: "data(label)", "font-size": 12, "text-valign": "bottom", "text-margin-y": 4,
      "text-wrap": "ellipsis", "text-max-width": Math.max(shape.across, shape.along) - 20, width: 22, height: 22,
      "background-color": COLOURS.callee, "border-width": 2, "border-color": "#fff",
    };
    return [
      { selector: "node", style: nodeStyle },
      { selector: "node.caller", style: { "background-color": COLOURS.caller, shape: "round-rectangle" } },
      { selector: "node.both", style: { "background-color": COLOURS.both, shape: "round-diamond" } },
      { selector: "node.external", style: {
        "background-color": "#fff", "border-color": "#6b7280", "border-style": "dashed",
        color: "#5b6475", "font-style": "italic" } },
      { selector: "node.start", style: {
        "background-color": COLOURS.start, width: 36, height: 36, "border-width": 4,
        "border-color": "#0b2a6b", "font-weight": "bold", "font-size": 14 } },
      { selector: "node:selected, node.focused", style: { "border-color": "#f59e0b", "border-width": 4 } },
      { selector: "edge", style: {
        width: 1.5, "line-color": "#9aa3b2", "target-arrow-color": "#9aa3b2",
        "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.9 } },
      { selector: ".path", style: { "line-color": "#f59e0b", "target-arrow-color": "#f59e0b", width: 4,
        "border-color": "#f59e0b", "border-width": 4 } },
    ];
  }

  function showCode(chunkId) {
    if (chunkId) htmx.ajax("GET", "/ui/code/chunks/" + chunkId, { target: "#code-panel" });
  }

  function recentre(nodeId) {
    var url = new URL(window.location.href);
    ["q", "chunk", "source", "target"].forEach(function (name) { url.searchParams.delete(name); });
    url.pathname = "/ui/code/graph";
    url.searchParams.set("node", nodeId);
    window.location.assign(url.toString());
  }

  function drawGraph() {
    var container = document.getElementById("graph");
    var source = document.getElementById("graph-data");
    if (!container || !source || typeof cytoscape === "undefined") return;
    if (window.mnemoliteGraph) {
      if (window.mnemoliteGraph.container() === container) return;
      window.mnemoliteGraph.destroy(); // its container was swapped out by HTMX
    }
    var data = JSON.parse(source.textContent);
    var vertical = container.clientHeight > container.clientWidth;
    var shape = vertical ? TALL : WIDE;
    layout(data.nodes, shape, vertical);
    var cy = cytoscape({
      container: container,
      elements: { nodes: data.nodes, edges: data.edges },
      layout: { name: "preset", fit: true, padding: 40 },
      style: style(shape),
      minZoom: 0.15,
      maxZoom: 3,
      selectionType: "single",
    });
    cy.on("tap", "node", function (event) { showCode(event.target.data("chunk_id")); });
    cy.on("dbltap", "node", function (event) {
      if (event.target.id() !== data.start) recentre(event.target.id());
    });
    window.mnemoliteGraph = cy; // for end-to-end tests and the console
    markPath(document.getElementById("path-result"));
  }

  // Hovering or focusing a table row marks its node in the drawing.
  function linkTables() {
    document.querySelectorAll("tr[data-node-id]").forEach(function (row) {
      var toggle = function (on) {
        var cy = window.mnemoliteGraph;
        if (cy) cy.getElementById(row.dataset.nodeId).toggleClass("focused", on);
      };
      ["mouseenter", "focusin"].forEach(function (name) { row.addEventListener(name, function () { toggle(true); }); });
      ["mouseleave", "focusout"].forEach(function (name) { row.addEventListener(name, function () { toggle(false); }); });
    });
  }

  function markPath(root) {
    var cy = window.mnemoliteGraph;
    if (!cy || !root) return;
    cy.elements().removeClass("path");
    var ids = Array.prototype.map.call(root.querySelectorAll("[data-path-node]"), function (el) {
      return el.dataset.pathNode;
    });
    ids.forEach(function (id, i) {
      cy.getElementById(id).addClass("path");
      if (i > 0) cy.getElementById(ids[i - 1] + "->" + id).addClass("path");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawGraph();
    linkTables();
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target.id !== "code-panel") return;
    // "Show code" in a table, or a link inside the panel (about to be replaced), takes keyboard
    // focus to the code it loads; a click on the drawing leaves focus where it is.
    var from = event.detail.requestConfig && event.detail.requestConfig.elt;
    focusPanel = Boolean(from && from !== target && from.closest && from.closest(".graph-list, .code-panel"));
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target.querySelector && target.querySelector("#graph-data")) {
      drawGraph();
      linkTables();
    }
    if (target.id === "path-result") markPath(target);
    if (target.id === "code-panel" && focusPanel) {
      var heading = target.querySelector("h2");
      if (heading) heading.focus();
    }
  });
})();
