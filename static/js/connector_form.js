// Connected-org form: show only the settings of the chosen connector. Without this
// script every group stays visible and the server ignores the others.
(function () {
  "use strict";
  var form = document.querySelector("[data-connector-form]");
  if (!form) return;
  var kind = form.querySelector("select[name=kind]");
  var groups = form.querySelectorAll("[data-connector-for]");
  function show() {
    groups.forEach(function (group) {
      group.hidden = group.getAttribute("data-connector-for") !== kind.value;
    });
  }
  kind.addEventListener("change", show);
  show();
})();
