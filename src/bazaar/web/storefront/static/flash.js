// Flash-sale countdowns: every element with data-countdown-to (an ISO time) shows the time left, and
// reloads the page when it reaches zero if it has data-reload (so the sale shows as live, or as ended).
(function () {
  "use strict";
  function left(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    s = s % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return (d ? d + "d " : "") + (d || h ? h + "h " : "") + two(m) + "m " + two(s) + "s";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown-to]").forEach(function (el) {
      var ms = Date.parse(el.getAttribute("data-countdown-to")) - now;
      el.textContent = left(ms);
      if (ms <= 0 && el.hasAttribute("data-reload") && !el.dataset.reloading) {
        el.dataset.reloading = "1";
        setTimeout(function () { window.location.reload(); }, 700);
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
})();
