// Change page: live preview of the change, the prorated amount due now and the next
// renewal, asked from the server as the admin types (the server's quote is the one
// that counts). Also shows "who loses their licence" when the total goes below the
// licences in use, and the signer fields only when someone else signs.
(function () {
  "use strict";
  var form = document.getElementById("change-form");
  if (!form) return;
  var input = document.getElementById("id_new_total");
  var error = document.getElementById("new-total-error");
  var delta = document.getElementById("preview-delta");
  var due = document.getElementById("preview-due");
  var dueLabel = document.getElementById("preview-due-label");
  var renewal = document.getElementById("preview-renewal");
  var free = document.getElementById("free-licences");
  var mustFree = document.getElementById("must-free");
  var otherSigner = document.getElementById("id_other_signer");
  var signerFields = document.getElementById("signer-fields");
  var timer = null;
  var sequence = 0;
  // The server's refusal of the form as posted (say, a decrease below the licences in
  // use without choosing who loses theirs): the preview of the same total knows nothing
  // of it, so it stays until the total is changed.
  var serverError = error.hidden ? "" : error.textContent;
  var postedValue = input.value.trim();

  function clear() {
    delta.textContent = "—";
    due.textContent = "—";
    renewal.textContent = "—";
  }

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
    if (message) {
      input.setAttribute("aria-invalid", "true");
    } else {
      input.removeAttribute("aria-invalid");
    }
  }

  function update() {
    var value = input.value.trim();
    if (!value) {
      showError("");
      clear();
      return;
    }
    var mine = ++sequence;
    var url = form.dataset.quoteUrl + "?new_total=" + encodeURIComponent(value);
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (mine !== sequence) return; // an answer to an older keystroke
        if (!data.ok) {
          showError(data.error);
          clear();
          return;
        }
        showError(value === postedValue ? serverError : "");
        delta.textContent = (data.delta > 0 ? "+" : "−") + Math.abs(data.delta) +
          " user" + (Math.abs(data.delta) === 1 ? "" : "s") + " (" + form.dataset.current + " → " + data.new_total + ")";
        dueLabel.textContent = data.delta > 0
          ? "Amount due now (rest of this period)"
          : "Amount due now (a decrease is neither charged nor refunded)";
        due.textContent = data.amount_due_display;
        renewal.textContent = data.renewal_display;
        if (free) {
          free.hidden = data.must_free <= 0;
          if (mustFree) mustFree.textContent = data.must_free_display;
        }
      })
      .catch(function () {
        if (mine === sequence) showError("The preview is unavailable right now; you can still continue.");
      });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(update, 200);
  });

  function toggleSigner() {
    signerFields.hidden = !otherSigner.checked;
  }
  otherSigner.addEventListener("change", toggleSigner);
  toggleSigner();
  if (input.value) update();
})();
