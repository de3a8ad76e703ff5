// Paying for a seat change.
//
// On the seat change page: while a payment is being made ("paying…"), ask the server
// where it stands every 1.5 s and reload the page once it has an answer.
//
// On the payment page: the card on file, or a new card in Stripe's card element. A
// new card is saved first: our server makes a SetupIntent and hands its client secret
// here, Stripe.js sends the card number to Stripe with it (confirmCardSetup, the
// bank's confirmation included), and this page only tells our server which
// SetupIntent it was; the server then charges that card. When the bank asks the
// cardholder to confirm the payment itself (3-D Secure), the server hands back the
// PaymentIntent's client secret, Stripe.js handles it (confirmCardPayment) and our
// server then asks Stripe what happened, without waiting for the webhook. Works the
// same against Stripe and against localstripe's Stripe.js (through the strict stand-in).
(function () {
  "use strict";

  var POLL_MS = 1500;

  function csrfToken(root) {
    var input = root.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function post(url, data, token) {
    var body = new URLSearchParams(data || {});
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
        "X-CSRFToken": token
      },
      body: body.toString()
    }).then(function (response) {
      return response.json().catch(function () {
        // Not an answer we can read (an error page, a proxy): ask where the payment
        // stands instead of guessing, and show that (paid in another tab, say).
        return { status: "pending", message: "Checking where your payment stands…", unreadable: true };
      });
    });
  }

  function poll(url, onAnswer) {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (data.status === "pending") {
          setTimeout(function () { poll(url, onAnswer); }, POLL_MS);
        } else {
          onAnswer(data);
        }
      })
      .catch(function () { setTimeout(function () { poll(url, onAnswer); }, POLL_MS * 2); });
  }

  // --- The seat change page: "paying…" ------------------------------------------------
  var pending = document.querySelector("[data-payment-pending]");
  if (pending) {
    setTimeout(function () {
      poll(pending.dataset.statusUrl, function () { window.location.reload(); });
    }, POLL_MS);
  }

  // --- The payment page ------------------------------------------------------------------
  var root = document.getElementById("payment");
  if (!root) return;
  var status = document.getElementById("payment-status");
  var cardError = document.getElementById("card-error");
  var forms = root.querySelectorAll("[data-pay-form]");
  var token = csrfToken(root);
  var stripe = null;
  var cardElement = null;

  function show(message, isError) {
    status.textContent = message || "";
    status.hidden = !message;
    status.classList.toggle("message-error", Boolean(isError));
  }

  function busy(on) {
    Array.prototype.forEach.call(forms, function (form) {
      Array.prototype.forEach.call(form.querySelectorAll("button"), function (button) {
        button.disabled = on;
      });
    });
    root.setAttribute("aria-busy", on ? "true" : "false");
  }

  function handle(outcome, confirmed) {
    if (outcome.status === "succeeded") {
      show(outcome.message, false);
      window.location.assign(outcome.redirect);
    } else if (outcome.status === "requires_action" && outcome.client_secret && !confirmed) {
      show(outcome.message, false);
      stripe.confirmCardPayment(outcome.client_secret).then(function (result) {
        // Whatever Stripe.js says, the server asks Stripe and records the truth.
        return post(root.dataset.confirmUrl, {}, token).then(function (answer) {
          if (result && result.error && answer.status !== "succeeded" && !answer.message) {
            answer.message = result.error.message;
          }
          handle(answer, true);
        });
      });
    } else if (outcome.status === "pending") {
      show(outcome.message, false);
      poll(root.dataset.statusUrl, function (answer) {
        if (answer.status === "succeeded" || (answer.state && answer.state !== "awaiting_payment")) {
          window.location.assign(outcome.redirect || root.dataset.seatChangeUrl);
        } else if (outcome.unreadable && answer.status === "none") {
          show("Nothing was charged. Please try again.", true);
          busy(false);
        } else {
          handle(answer, true);
        }
      });
    } else {
      show(outcome.message, true);
      busy(false);
    }
  }

  function pay(data) {
    busy(true);
    show("Paying…", false);
    post(root.dataset.payUrl, data, token).then(function (outcome) { handle(outcome, false); });
  }

  if (typeof window.Stripe === "function") {
    stripe = window.Stripe(root.dataset.publishableKey);
    var mount = document.getElementById("card-element");
    if (mount) {
      cardElement = stripe.elements().create("card");
      cardElement.mount(mount);
    }
  } else {
    show("The card form could not be loaded. Check your connection and reload the page.", true);
  }

  Array.prototype.forEach.call(forms, function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!stripe) return;
      cardError.hidden = true;
      if (form.dataset.payForm !== "card") {
        pay({});
        return;
      }
      busy(true);
      show("", false);
      post(root.dataset.cardUrl, {}, token).then(function (answer) {
        if (!answer.client_secret) {
          show(answer.message, true);
          busy(false);
          return;
        }
        stripe.confirmCardSetup(answer.client_secret, { payment_method: { card: cardElement } })
          .then(function (result) {
            if (result.error || !result.setupIntent) {
              cardError.textContent = (result.error && result.error.message) ||
                "Check the card number, expiry date and security code.";
              cardError.hidden = false;
              busy(false);
              return;
            }
            pay({ setup_intent: result.setupIntent.id });
          });
      });
    });
  });

  if (root.dataset.pending) {
    busy(true);
    handle({ status: "pending", message: status.textContent, redirect: window.location.href }, false);
  }
})();
