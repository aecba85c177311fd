// Razorpay's payment page (/pay/razorpay/<order_id>): loads Razorpay Checkout, opens it for our
// Razorpay order when the shopper asks, and sends what Checkout's handler receives (payment id,
// order id, signature) to the checkout's return URL, where the server verifies the signature
// before it believes anything. Everything it needs is in the data-* attributes of #razorpay-pay:
// the page has no inline script, so its Content-Security-Policy stays strict.
(function () {
  "use strict";
  var RETURN_FIELDS = ["razorpay_payment_id", "razorpay_order_id", "razorpay_signature"];

  function say(status, text) {
    if (status) { status.textContent = text; }
  }

  function sendBack(form, response) {
    RETURN_FIELDS.forEach(function (name) {
      form.elements[name].value = (response && response[name]) || "";
    });
    form.submit();
  }

  function open(data, button, form, status) {
    if (typeof window.Razorpay !== "function") {
      say(status, "Razorpay Checkout has not loaded. Check your connection and reload the page.");
      return;
    }
    button.disabled = true;
    var checkout = new window.Razorpay({
      key: data.key,
      order_id: data.orderId,
      amount: parseInt(data.amount, 10),
      currency: data.currency,
      name: data.name,
      description: data.description,
      prefill: { email: data.email },
      handler: function (response) {
        say(status, "Payment received. Confirming your order…");
        sendBack(form, response);
      },
      modal: {
        ondismiss: function () {
          button.disabled = false;
          say(status, "You closed Razorpay Checkout before paying. Nothing was charged.");
        }
      }
    });
    checkout.on("payment.failed", function (response) {
      var error = response && response.error;
      say(status, (error && error.description) || "The payment failed. You can try again.");
    });
    checkout.open();
  }

  function setUp() {
    var root = document.getElementById("razorpay-pay");
    var button = document.getElementById("razorpay-pay-button");
    var form = document.getElementById("razorpay-return");
    if (!root || !button || !form) { return; }
    var status = document.getElementById("razorpay-status");
    var data = root.dataset;
    var script = document.createElement("script");
    script.src = data.checkoutJs;
    script.async = true;
    script.onload = function () { button.disabled = false; };
    script.onerror = function () {
      say(status, "Razorpay Checkout could not be loaded. Check your connection and reload the page.");
    };
    document.head.appendChild(script);
    button.addEventListener("click", function () { open(data, button, form, status); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
