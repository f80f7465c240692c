/* Draws the charts of retainful_admin.charts with the vendored Chart.js: each figure.rt-chart holds its data in a
   <script type="application/json"> block (no inline script: the admin's CSP). Counts on the left axis, money on the
   right one; tooltips show money in the store's currency. */
(function () {
  "use strict";
  if (!window.Chart) { return; }

  function formatter(data) {
    var moneyFormat;
    try {
      moneyFormat = new Intl.NumberFormat(data.locale, {style: "currency", currency: data.currency});
    } catch (error) {
      moneyFormat = new Intl.NumberFormat(undefined, {style: "currency", currency: data.currency});
    }
    var countFormat = new Intl.NumberFormat(data.locale);
    return function (axis, value) { return axis === "money" ? moneyFormat.format(value) : countFormat.format(value); };
  }

  function shortDay(label) {
    return /^\d{4}-\d{2}-\d{2}$/.test(label) ? label.slice(5) : label;
  }

  function draw(figure) {
    var data = JSON.parse(figure.querySelector("script.rt-chart-data").textContent);
    var format = formatter(data);
    var axes = {};
    data.datasets.forEach(function (set) { axes[set.axis] = true; });
    var both = axes.count && axes.money;
    var datasets = data.datasets.map(function (set) {
      var line = set.kind === "line";
      return {
        type: line ? "line" : "bar", label: set.label, data: set.data, rtAxis: set.axis,
        yAxisID: set.axis, borderColor: set.colour, backgroundColor: line ? set.colour : set.colour + "cc",
        borderWidth: line ? 2 : 0, pointRadius: line ? 3 : 0, pointHoverRadius: 5, tension: 0.2,
        order: line ? 0 : 1  // lines are drawn over the bars
      };
    });
    var scales = {
      x: {title: {display: true, text: data.x_title}, ticks: {autoSkip: true, maxRotation: 0, callback: function (value) {
        return shortDay(this.getLabelForValue(value)); }}}
    };
    ["count", "money"].forEach(function (axis) {
      if (!axes[axis]) { return; }
      scales[axis] = {
        type: "linear", beginAtZero: true, position: axis === "money" && both ? "right" : "left",
        grid: {drawOnChartArea: !(axis === "money" && both)},
        ticks: {precision: axis === "count" ? 0 : undefined,
                callback: function (value) { return format(axis, value); }}
      };
    });
    var chart = new window.Chart(figure.querySelector("canvas"), {
      type: "bar",
      data: {labels: data.labels, datasets: datasets},
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: {mode: "index", intersect: false},
        plugins: {
          legend: {position: "bottom", labels: {sort: function (a, b) { return a.datasetIndex - b.datasetIndex; }}},
          tooltip: {callbacks: {label: function (item) {
            return item.dataset.label + ": " + format(item.dataset.rtAxis, item.parsed.y);
          }}}
        },
        scales: scales
      }
    });
    figure.setAttribute("data-rendered", "yes");
    figure.rtChart = chart;
  }

  document.querySelectorAll("figure.rt-chart").forEach(draw);
})();
