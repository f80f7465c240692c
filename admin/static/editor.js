/* The template editor's live preview and test-send (vanilla JS, no external libraries).
 *
 * Typing in #template-source POSTs the text (with the CSRF token in the X-CSRFToken header) to the preview endpoint,
 * which answers JSON: email {subject, html, text}, SMS {text, characters, segments, encoding, warnings}.
 * #template-editor[data-preview-state] is "pending", "ready" or "error", for tests that drive the page.
 */
(function () {
  "use strict";
  var root = document.getElementById("template-editor");
  if (!root) { return; }
  var channel = root.dataset.channel;
  var source = document.getElementById("template-source");
  var cart = document.getElementById("preview-cart");
  var statusEl = document.getElementById("preview-status");
  var errorEl = document.getElementById("preview-error");
  var unsavedLabel = document.querySelector("label[for=template-source]");
  var meta = document.querySelector('meta[name="csrf-token"]');
  var token = meta ? meta.getAttribute("content") : "";
  var timer = null;
  var latest = 0;
  root.dataset.previewState = "ready";

  function post(url, data) {
    data.store_guard = root.dataset.store;  // refused (409) if another tab switched the store since
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRFToken": token, "X-Requested-With": "fetch", "Accept": "application/json"},
      body: new URLSearchParams(data)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return {ok: response.ok, status: response.status, body: body};
      });
    });
  }

  function showError(message) {
    errorEl.textContent = message || "";
    errorEl.classList.toggle("d-none", !message);
  }

  function setText(id, value) {
    var element = document.getElementById(id);
    if (element) { element.textContent = value; }
  }

  function apply(data) {
    if (channel === "email") {
      setText("preview-subject", data.subject);
      document.getElementById("preview-frame").srcdoc = data.html;
      setText("preview-text", data.text);
    } else {
      setText("sms-preview", data.text);
      setText("sms-characters", data.characters);
      setText("sms-segments", data.segments);
      setText("sms-encoding", data.encoding);
      var list = document.getElementById("sms-warnings");
      list.textContent = "";
      (data.warnings || []).forEach(function (warning) {
        var item = document.createElement("li");
        item.textContent = warning;
        list.appendChild(item);
      });
    }
  }

  function refresh() {
    var mine = ++latest;
    root.dataset.previewState = "pending";
    statusEl.textContent = window.rtWord("rendering…");
    post(root.dataset.previewUrl, {source: source.value, cart_token: cart.value}).then(function (result) {
      if (mine !== latest) { return; }
      if (!result.ok) {
        showError(result.body.error ? result.body.error.message
                  : window.rtWord("The preview failed (HTTP %(status)s).", {status: result.status}));
        statusEl.textContent = window.rtWord("error");
        root.dataset.previewState = "error";
        return;
      }
      showError("");
      apply(result.body);
      statusEl.textContent = window.rtWord("up to date");
      root.dataset.previewState = "ready";
    }).catch(function () {
      if (mine !== latest) { return; }
      showError(window.rtWord("The preview could not be reached."));
      statusEl.textContent = window.rtWord("error");
      root.dataset.previewState = "error";
    });
  }

  function schedule() {
    clearTimeout(timer);
    root.dataset.previewState = "pending";
    statusEl.textContent = "…";
    if (unsavedLabel && !document.getElementById("unsaved")) {
      var badge = document.createElement("span");
      badge.id = "unsaved";
      badge.className = "badge badge-warning ml-1";
      badge.textContent = window.rtWord("not saved");
      unsavedLabel.appendChild(badge);
    }
    timer = setTimeout(refresh, 300);
  }

  source.addEventListener("input", schedule);
  cart.addEventListener("change", refresh);
  document.getElementById("refresh-preview").addEventListener("click", refresh);

  document.querySelectorAll(".load-version").forEach(function (button) {
    button.addEventListener("click", function () {
      source.value = button.closest("details").querySelector(".version-source").textContent;
      schedule();
    });
  });

  var testForm = document.getElementById("test-send-form");
  var result = document.getElementById("test-send-result");
  testForm.addEventListener("submit", function (event) {
    event.preventDefault();
    result.innerHTML = "";
    var pending = document.createElement("div");
    pending.className = "text-muted";
    pending.dataset.status = "sending";
    pending.textContent = window.rtWord("Sending…");
    result.appendChild(pending);
    var to = document.getElementById("test-send-to").value;
    post(root.dataset.testSendUrl, {to: to, source: source.value, cart_token: cart.value}).then(function (answer) {
      var box = document.createElement("div");
      var body = answer.body;
      var sent = answer.ok && body.status === "sent";
      box.className = "alert mb-0 alert-" + (sent ? "success" : "danger");
      box.dataset.status = body.status || "error";
      if (sent) {
        box.textContent = window.rtWord("Sent to %(to)s via %(provider)s.", {to: body.to, provider: body.provider}) + " ";
      } else if (body.error && body.error.message) {
        box.textContent = body.error.message;
      } else {
        box.textContent = window.rtWord("Not sent: %(error)s", {error: body.error || "HTTP " + answer.status}) + " ";
      }
      if (body.message_url) {
        var link = document.createElement("a");
        link.href = body.message_url;
        link.textContent = window.rtWord("message #%(id)s", {id: body.message_id});
        box.appendChild(link);
      }
      result.innerHTML = "";
      result.appendChild(box);
    }).catch(function () {
      result.textContent = window.rtWord("The test-send could not be reached.");
    });
  });
})();
