// The signing form of a change agreement (templates/agreements/_agreement_and_sign.html).
//
// Draw: a canvas driven by pointer events, so a mouse, a pen and a finger all work.
// Strokes are kept in coordinates relative to the canvas (0..1), so the drawing
// survives the canvas being resized (phone rotation) and is exported at a fixed size
// (EXPORT_WIDTH x EXPORT_HEIGHT) into the hidden `signature_png` field as a PNG data
// URL. Type: the typed name is previewed in the signature font. Keyboard users choose
// Type. Without JavaScript both panels stay visible and Type works on its own. The
// Sign button is disabled once the form is sent.
(function () {
  "use strict";

  var EXPORT_WIDTH = 600;
  var EXPORT_HEIGHT = 200;
  var INK = "#1d2330";

  function initSignature(form) {
    var canvas = form.querySelector("[data-signature-canvas]");
    var hidden = form.querySelector("[data-signature-png]");
    var clearButton = form.querySelector("[data-signature-clear]");
    var status = form.querySelector("[data-signature-status]");
    var error = form.querySelector("[data-signature-error]");
    var typed = form.querySelector("[data-signature-text]");
    var preview = form.querySelector("[data-signature-preview]");
    var radios = form.querySelectorAll('input[name="signature_kind"]');
    var panels = form.querySelectorAll("[data-signature-panel]");
    if (!canvas || !hidden) {
      return;
    }
    form.classList.add("signature-js");

    var strokes = [];
    var current = null;
    var restored = null; // a signature drawn before the page was re-shown with errors
    var frame = 0;

    function kind() {
      for (var i = 0; i < radios.length; i++) {
        if (radios[i].checked) {
          return radios[i].value;
        }
      }
      return "drawn";
    }

    function showPanels() {
      var chosen = kind();
      for (var i = 0; i < panels.length; i++) {
        panels[i].hidden = panels[i].getAttribute("data-signature-panel") !== chosen;
      }
      if (chosen === "drawn") {
        resize();
      }
    }

    function isEmpty() {
      return strokes.length === 0 && restored === null;
    }

    function paint(target, width, height) {
      var context = target.getContext("2d");
      context.clearRect(0, 0, target.width, target.height);
      if (restored) {
        context.drawImage(restored, 0, 0, width, height);
      }
      context.strokeStyle = INK;
      context.fillStyle = INK;
      context.lineWidth = Math.max(1.5, width / 220);
      context.lineCap = "round";
      context.lineJoin = "round";
      strokes.forEach(function (stroke) {
        if (stroke.length === 1) {
          context.beginPath();
          context.arc(stroke[0].x * width, stroke[0].y * height, context.lineWidth / 2, 0, Math.PI * 2);
          context.fill();
          return;
        }
        context.beginPath();
        context.moveTo(stroke[0].x * width, stroke[0].y * height);
        for (var i = 1; i < stroke.length; i++) {
          context.lineTo(stroke[i].x * width, stroke[i].y * height);
        }
        context.stroke();
      });
    }

    function redraw() {
      frame = 0;
      paint(canvas, canvas.width, canvas.height);
    }

    function scheduleRedraw() {
      if (!frame) {
        frame = window.requestAnimationFrame(redraw);
      }
    }

    function resize() {
      var ratio = window.devicePixelRatio || 1;
      var width = canvas.clientWidth;
      if (!width) {
        return; // hidden: sized when shown
      }
      var height = width * (EXPORT_HEIGHT / EXPORT_WIDTH);
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      redraw();
    }

    function exportSignature() {
      if (isEmpty()) {
        hidden.value = "";
        return;
      }
      var out = document.createElement("canvas");
      out.width = EXPORT_WIDTH;
      out.height = EXPORT_HEIGHT;
      paint(out, EXPORT_WIDTH, EXPORT_HEIGHT);
      hidden.value = out.toDataURL("image/png");
    }

    function say(message) {
      if (status) {
        status.textContent = message;
      }
    }

    function pointAt(event) {
      var box = canvas.getBoundingClientRect();
      return {
        x: Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1),
        y: Math.min(Math.max((event.clientY - box.top) / box.height, 0), 1),
      };
    }

    canvas.addEventListener("pointerdown", function (event) {
      if (event.pointerType === "mouse" && event.button !== 0) {
        return;
      }
      event.preventDefault();
      if (canvas.setPointerCapture) {
        canvas.setPointerCapture(event.pointerId);
      }
      current = [pointAt(event)];
      strokes.push(current);
      scheduleRedraw();
    });

    canvas.addEventListener("pointermove", function (event) {
      if (!current) {
        return;
      }
      event.preventDefault();
      var events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
      if (!events.length) {
        events = [event];
      }
      events.forEach(function (each) {
        current.push(pointAt(each));
      });
      scheduleRedraw();
    });

    function endStroke() {
      if (!current) {
        return;
      }
      current = null;
      exportSignature();
      if (error) {
        error.hidden = true;
      }
      say("Signature drawn. Use Clear to start again.");
    }
    canvas.addEventListener("pointerup", endStroke);
    canvas.addEventListener("pointercancel", endStroke);
    canvas.addEventListener("lostpointercapture", endStroke);

    if (clearButton) {
      clearButton.addEventListener("click", function () {
        strokes = [];
        current = null;
        restored = null;
        hidden.value = "";
        redraw();
        say("Signature cleared.");
      });
    }

    for (var i = 0; i < radios.length; i++) {
      radios[i].addEventListener("change", showPanels);
    }

    if (typed && preview) {
      typed.addEventListener("input", function () {
        preview.textContent = typed.value;
      });
    }

    // Once sent, the button stays disabled: a double click signs once (the server
    // answers a second request with the signed change anyway).
    var submitButton = form.querySelector("[data-signature-submit]");
    var submitLabel = submitButton ? submitButton.textContent : "";
    // Paying with the card on file, or later: the button says which ("Sign and pay
    // €10.00 with Visa •••• 4242" or "Sign agreement"), so the click is the consent.
    var paymentChoices = form.querySelectorAll("input[name=payment]");
    function labelForChoice() {
      for (var c = 0; c < paymentChoices.length; c++) {
        if (paymentChoices[c].checked && submitButton) {
          submitLabel = paymentChoices[c].dataset.buttonLabel;
          submitButton.textContent = submitLabel;
        }
      }
    }
    for (var p = 0; p < paymentChoices.length; p++) {
      paymentChoices[p].addEventListener("change", labelForChoice);
    }
    labelForChoice();
    form.addEventListener("submit", function (event) {
      if (kind() === "drawn") {
        exportSignature();
        if (!hidden.value) {
          event.preventDefault();
          if (error) {
            error.textContent = "Draw your signature in the box, or choose Type.";
            error.hidden = false;
          }
          canvas.focus();
          return;
        }
      }
      if (submitButton) {
        submitButton.disabled = true;
        submitButton.textContent = submitLabel.indexOf("Sign and pay") === 0 ? "Signing and paying…" : "Signing…";
      }
    });
    // Back to this page from the history: the button works again.
    window.addEventListener("pageshow", function () {
      if (submitButton) {
        submitButton.disabled = false;
        submitButton.textContent = submitLabel;
      }
    });

    if (hidden.value.indexOf("data:image/png;base64,") === 0) {
      var image = new Image();
      image.onload = function () {
        restored = image;
        redraw();
      };
      image.src = hidden.value;
    }

    var resizeTimer = 0;
    window.addEventListener("resize", function () {
      window.clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(resize, 100);
    });
    showPanels();
  }

  var forms = document.querySelectorAll("form[data-signature]");
  for (var i = 0; i < forms.length; i++) {
    initSignature(forms[i]);
  }
})();
