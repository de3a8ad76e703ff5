// While a paid or approved change is being sent to the org, follow it without a
// reload: update the push line ("Retrying: …") every 2 s, and reload the page once
// the change is live.
(function () {
  "use strict";
  var line = document.querySelector("[data-live-status-url]");
  if (!line) return;
  var url = line.dataset.liveStatusUrl;

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (data.state !== "applying") {
          window.location.reload();
          return;
        }
        if (data.push) line.textContent = data.push;
        line.className = "push push-" + (data.push.indexOf("Retrying") === 0 ? "retrying" : "sending");
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 4000); });
  }

  setTimeout(poll, 1000);
})();
