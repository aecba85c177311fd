// The checkout hold's countdown: ticks every second from data-expires-at (the server's
// deadline), announces the minutes left politely, and at zero asks the server (through htmx)
// for the expired state. The server re-renders the element every 15 s, so it stays honest.
(function () {
  "use strict";
  var lastMinute = null;

  function tick() {
    var el = document.getElementById("hold-countdown");
    if (!el || !el.dataset.expiresAt) { return; }
    var left = Math.max(0, Math.floor((Date.parse(el.dataset.expiresAt) - Date.now()) / 1000));
    var clock = el.querySelector(".countdown-clock");
    if (clock) {
      var s = left % 60;
      clock.textContent = Math.floor(left / 60) + ":" + (s < 10 ? "0" : "") + s;
    }
    var minutes = Math.ceil(left / 60);
    var announce = el.querySelector(".countdown-announce");
    if (announce && minutes !== lastMinute) {
      lastMinute = minutes;
      announce.textContent = minutes + (minutes === 1 ? " minute" : " minutes") + " left to pay";
    }
    if (left === 0 && !el.dataset.expiredSent && window.htmx) {
      el.dataset.expiredSent = "1";
      window.htmx.trigger(el, "hf:expired");
    }
  }

  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);
})();
