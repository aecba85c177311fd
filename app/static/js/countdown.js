// The checkout hold's countdown: ticks every second from data-expires-at (the server's
// deadline) and at zero asks the server (through htmx) for the expired state. The server
// re-renders the countdown every 15 s, so it stays honest.
//
// Screen readers hear it through #countdown-live, a polite live region outside the part htmx
// swaps (a region that is replaced is not reliably announced). It speaks only when its words
// change: at each minute boundary, then at 1 minute, 30 and 10 seconds in the last minute.
// The expired state announces itself (role="alert"), so zero says nothing here.
(function () {
  "use strict";
  var lastSaid = null;

  function announcement(left) {
    if (left <= 0) { return ""; }
    if (left > 60) { return Math.ceil(left / 60) + " minutes left to pay"; }
    if (left > 30) { return "1 minute left to pay"; }
    if (left > 10) { return "30 seconds left to pay"; }
    return "10 seconds left to pay";
  }

  function announce(left) {
    var live = document.getElementById("countdown-live");
    var words = announcement(left);
    if (!live || !words || words === lastSaid) { return; }
    lastSaid = words;
    live.textContent = words;
  }

  function tick() {
    var el = document.getElementById("hold-countdown");
    if (!el || !el.dataset.expiresAt) { return; }
    var left = Math.max(0, Math.floor((Date.parse(el.dataset.expiresAt) - Date.now()) / 1000));
    var clock = el.querySelector(".countdown-clock");
    if (clock) {
      var s = left % 60;
      clock.textContent = Math.floor(left / 60) + ":" + (s < 10 ? "0" : "") + s;
    }
    announce(left);
    if (left === 0 && !el.dataset.expiredSent && window.htmx) {
      el.dataset.expiredSent = "1";
      window.htmx.trigger(el, "hf:expired");
    }
  }

  setInterval(tick, 1000);
  document.addEventListener("DOMContentLoaded", tick);
})();
