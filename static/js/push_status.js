// Keeps "sending to your org → live in your org" up to date without a reload:
// polls the status every 2 seconds while a push is under way, then stops.
(function () {
  "use strict";
  var root = document.querySelector("[data-push-status-url]");
  if (!root) return;
  var url = root.dataset.pushStatusUrl;

  function pending() {
    return document.querySelector(".push-sending, .push-retrying") !== null;
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        data.subscriptions.forEach(function (item) {
          var line = document.querySelector('[data-push-for="' + item.id + '"]');
          if (!line || item.state === "none") return;
          line.className = "push push-" + item.state;
          line.textContent = item.message;
          var card = line.closest(".card");
          if (card) {
            var maximum = card.querySelector('[data-testid="maximum"]');
            var available = card.querySelector('[data-testid="available"]');
            if (maximum) maximum.textContent = item.maximum;
            if (available) available.textContent = item.available;
          }
        });
      })
      .catch(function () { /* try again on the next tick */ })
      .then(function () {
        if (pending()) setTimeout(poll, 2000);
      });
  }

  if (pending()) setTimeout(poll, 2000);
})();
