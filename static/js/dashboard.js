// The dashboard's events-over-time chart: uPlot bars drawn from the JSON next to the chart area.
(function () {
  "use strict";

  function draw(figure) {
    const area = figure.querySelector(".chart-area");
    const data = JSON.parse(figure.querySelector(".chart-data").textContent);
    if (!area || typeof uPlot === "undefined") return;
    area.replaceChildren();
    const styles = getComputedStyle(document.documentElement);
    const step = data.x.length > 1 ? data.x[1] - data.x[0] : 86400;
    const accent = styles.getPropertyValue("--accent").trim() || "#2457c5";
    const options = {
      width: Math.max(area.clientWidth, 240),
      height: 180,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      // Bins are UTC days: show UTC, and pad half a bin each side so the edge bars are whole.
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1e3), "Etc/UTC"),
      scales: {
        x: { time: true, range: (u, min, max) => [min - step / 2, max + step / 2] },
        y: { range: (u, min, max) => [0, Math.max(max, 1)] },
      },
      axes: [{}, { size: 48 }],
      series: [
        {},
        {
          label: "events",
          stroke: accent,
          fill: accent + "55",
          paths: uPlot.paths.bars({ size: [0.8, 40] }),
          points: { show: false },
        },
      ],
    };
    const chart = new uPlot(options, [data.x, data.y], area);
    new ResizeObserver(() => chart.setSize({ width: Math.max(area.clientWidth, 240), height: 180 }))
      .observe(area);
  }

  // On first load and whenever htmx swaps in a new range.
  htmx.onLoad((root) => {
    const figures = root.matches?.("figure.chart") ? [root] : root.querySelectorAll("figure.chart");
    figures.forEach(draw);
  });
})();
