// kargo UI: theme toggle, pan/zoom of the pipeline graph, drag-to-promote.
// Everything else is server-rendered HTML kept live by htmx's SSE extension.
(function () {
  "use strict";
  var root = document.documentElement;
  var saved = localStorage.getItem("kargo-theme");
  if (saved) root.dataset.theme = saved;

  function dark() {
    if (root.dataset.theme) return root.dataset.theme === "dark";
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }

  document.addEventListener("click", function (e) {
    var t = e.target.closest && e.target.closest("#theme");
    if (!t) return;
    root.dataset.theme = dark() ? "light" : "dark";
    localStorage.setItem("kargo-theme", root.dataset.theme);
  });

  // Pan and zoom: the transform lives on the viewport so a swapped graph keeps it.
  var view = { x: 0, y: 0, k: 1 };
  function apply() {
    var c = document.querySelector("#viewport .canvas");
    if (c) c.style.transform = "translate(" + view.x + "px," + view.y + "px) scale(" + view.k + ")";
  }
  document.addEventListener("htmx:afterSwap", apply);
  document.addEventListener("htmx:sseMessage", apply);

  document.addEventListener("wheel", function (e) {
    var vp = e.target.closest && e.target.closest("#viewport");
    if (!vp || !e.ctrlKey) return;
    e.preventDefault();
    var k = Math.min(2.5, Math.max(0.2, view.k * (e.deltaY < 0 ? 1.1 : 0.9)));
    var r = vp.getBoundingClientRect();
    var px = e.clientX - r.left, py = e.clientY - r.top;
    view.x = px - (px - view.x) * (k / view.k);
    view.y = py - (py - view.y) * (k / view.k);
    view.k = k;
    apply();
  }, { passive: false });

  var pan = null;
  document.addEventListener("pointerdown", function (e) {
    var vp = e.target.closest && e.target.closest("#viewport");
    if (!vp || e.target.closest(".node") || e.button !== 0) return;
    pan = { x: e.clientX - view.x, y: e.clientY - view.y };
    vp.classList.add("panning");
  });
  document.addEventListener("pointermove", function (e) {
    if (!pan) return;
    view.x = e.clientX - pan.x;
    view.y = e.clientY - pan.y;
    apply();
  });
  document.addEventListener("pointerup", function () {
    pan = null;
    var vp = document.getElementById("viewport");
    if (vp) vp.classList.remove("panning");
  });

  document.addEventListener("keydown", function (e) {
    if (!document.getElementById("viewport") || /INPUT|SELECT|TEXTAREA/.test(e.target.tagName)) return;
    if (e.key === "+" || e.key === "=") view.k = Math.min(2.5, view.k * 1.1);
    else if (e.key === "-") view.k = Math.max(0.2, view.k * 0.9);
    else if (e.key === "0") view = { x: 0, y: 0, k: 1 };
    else return;
    apply();
  });

  // Drag a Freight card onto a Stage node: open the promote flow for that pair.
  document.addEventListener("dragstart", function (e) {
    var card = e.target.closest && e.target.closest("[data-freight]");
    if (card) e.dataTransfer.setData("text/x-kargo-freight", card.dataset.freight);
  });
  document.addEventListener("dragover", function (e) {
    if (e.target.closest && e.target.closest(".node.stage")) e.preventDefault();
  });
  document.addEventListener("drop", function (e) {
    var node = e.target.closest && e.target.closest(".node.stage");
    var f = e.dataTransfer.getData("text/x-kargo-freight");
    if (!node || !f) return;
    e.preventDefault();
    var project = location.pathname.split("/")[3];
    location.href = "/ui/projects/" + project + "/promote?stage=" +
      encodeURIComponent(node.dataset.stage) + "&freight=" + encodeURIComponent(f);
  });
})();
