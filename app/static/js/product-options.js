// A product's option radios update the page through htmx as they change (hx-get on each
// radio), so the "Show" button the page needs without JavaScript is hidden once htmx runs.
(function () {
  "use strict";
  if (window.htmx) { document.documentElement.classList.add("options-live"); }
})();
