// One line chart per drill scenario: RTO and RPO of each run, oldest first.
(function () {
  "use strict";
  const trends = JSON.parse(document.getElementById("trends").textContent);
  const holder = document.getElementById("charts");
  for (const [scenario, runs] of Object.entries(trends)) {
    const box = document.createElement("div");
    box.className = "chart";
    const title = document.createElement("h3");
    title.textContent = scenario;  // textContent: a scenario name is never markup
    const canvas = document.createElement("canvas");
    canvas.dataset.scenario = scenario;
    box.append(title, canvas);
    holder.append(box);
    const chart = new Chart(canvas, {
      type: "line",
      data: {
        labels: runs.map((r) => r.at.slice(0, 16).replace("T", " ")),
        datasets: [
          { label: "RTO (s)", data: runs.map((r) => r.rto_seconds), borderColor: "#1c71d8" },
          { label: "RPO (s)", data: runs.map((r) => r.rpo_seconds), borderColor: "#c01c28" },
        ],
      },
      options: { animation: false, spanGaps: true, scales: { y: { beginAtZero: true } } },
    });
    // What the chart drew, for the browser test: points per dataset.
    canvas.dataset.points = chart.getDatasetMeta(0).data.length;
    canvas.dataset.rpoPoints = chart.getDatasetMeta(1).data.length;
  }
  document.body.dataset.chartsReady = "true";
})();
