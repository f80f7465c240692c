/* The template editor: the code editor (CodeMirror, vendored), the live preview and the test-send.
 *
 * The source lives in #template-source (the form's field, saved as it is without JavaScript); CodeMirror edits it
 * with HTML and Jinja highlighting, line numbers, merge-variable completion after "{{" (or Ctrl-Space) and the
 * preview's template error marked at its line (the lint addon). Every change POSTs the source (with the CSRF token
 * in the X-CSRFToken header) to the preview endpoint, which answers JSON: email {subject, preheader, html, text},
 * SMS {text, characters, segments, encoding, warnings}, or {error: {message, line}}.
 * #template-editor[data-preview-state] is "pending", "ready" or "error", and [data-error-line] the line marked,
 * for tests that drive the page. window.RetainfulEditor is what blocks.js (the visual editor) uses: the page's
 * elements and data, post() and newestOnly().
 */
(function () {
  "use strict";
  var root = document.getElementById("template-editor");
  if (!root) { return; }
  var channel = root.dataset.channel;
  var data = JSON.parse(document.getElementById("editor-data").textContent);
  var source = document.getElementById("template-source");
  var cart = document.getElementById("preview-cart");
  var statusEl = document.getElementById("preview-status");
  var errorEl = document.getElementById("preview-error");
  var unsavedLabel = document.querySelector("label[for=template-source]");
  var meta = document.querySelector('meta[name="csrf-token"]');
  var token = meta ? meta.getAttribute("content") : "";
  // A simulated dark client: colours inverted as Gmail's and Outlook's apps do, pictures kept as they are.
  var DARK_CLIENT = "<style>html{filter:invert(1) hue-rotate(180deg);background:#fff}" +
    "img{filter:invert(1) hue-rotate(180deg)}</style>";
  var timer = null;
  var lastHtml = null;
  var lint = {text: null, annotations: [], waiting: null};
  root.dataset.previewState = "ready";

  function post(url, fields, signal) {
    fields.store_guard = root.dataset.store;  // refused (409) if another tab switched the store since
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRFToken": token, "X-Requested-With": "fetch", "Accept": "application/json"},
      body: new URLSearchParams(fields),
      signal: signal
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return {ok: response.ok, status: response.status, body: body};
      });
    });
  }

  // A line of requests where only the newest answer counts: a request (or cancel()) aborts the one before, and an
  // answer that arrives anyway settles nothing, so a slow answer never overwrites what the user did since.
  function newestOnly() {
    var current = null;
    function cancel() {
      if (current) { current.abort(); }
      current = null;
    }
    return {
      cancel: cancel,
      post: function (url, fields) {
        cancel();
        var mine = current = new AbortController();
        return new Promise(function (resolve, reject) {
          post(url, fields, mine.signal).then(function (answer) { if (mine === current) { resolve(answer); } },
                                              function (error) { if (mine === current) { reject(error); } });
        });
      }
    };
  }
  var previews = newestOnly();

  // --- the code editor ---------------------------------------------------------------------------------------------

  var code = null;
  if (window.CodeMirror) {
    CodeMirror.defineMode("retainful-template", function (config, options) {
      var overlay = {  // Jinja's {{ … }}, {% … %} and {# … #} over the HTML (or plain SMS text) beneath
        startState: function () { return {close: null, style: null}; },
        token: function (stream, state) {
          if (!state.close) {
            var open = stream.match(/^\{[{%#]/);
            if (!open) {
              while (stream.next() != null && !stream.match(/^\{[{%#]/, false)) { /* plain text */ }
              return null;
            }
            state.close = {"{{": "}}", "{%": "%}", "{#": "#}"}[open[0]];
            state.style = {"{{": "jinja-variable", "{%": "jinja-tag", "{#": "comment"}[open[0]];
            return state.style;
          }
          var style = state.style;
          if (stream.skipTo(state.close)) {
            stream.match(state.close);
            state.close = null;
          } else {
            stream.skipToEnd();
          }
          return style;
        }
      };
      return CodeMirror.overlayMode(CodeMirror.getMode(config, options.base), overlay);
    });

    var variableHint = function (editor) {
      var cursor = editor.getCursor();
      var line = editor.getLine(cursor.line);
      var before = line.slice(0, cursor.ch);
      var open = before.lastIndexOf("{{");
      if (open < 0 || before.indexOf("}}", open) >= 0) {  // not inside {{ … }}: offer whole tokens here
        return {from: cursor, to: cursor, list: data.variables.map(function (variable) {
          return {text: variable.token, displayText: variable.token + "  " + variable.label};
        })};
      }
      var typed = before.slice(open + 2).replace(/^\s+/, "");
      var closed = /^\s*\}\}/.test(line.slice(cursor.ch));
      var list = data.variables.filter(function (variable) {
        return variable.expression.indexOf(typed) === 0 ||
          variable.label.toLowerCase().indexOf(typed.toLowerCase()) >= 0;
      }).map(function (variable) {
        return {text: " " + variable.expression + (closed ? " " : " }}"),
                displayText: variable.expression + "  " + variable.label};
      });
      return {from: CodeMirror.Pos(cursor.line, open + 2), to: cursor, list: list};
    };

    code = CodeMirror.fromTextArea(source, {
      mode: {name: "retainful-template", base: channel === "email" ? "htmlmixed" : "text/plain"},
      lineNumbers: true,
      lineWrapping: true,
      matchTags: channel === "email",
      gutters: ["CodeMirror-lint-markers"],
      lint: {async: true, highlightLines: true, delay: 100, getAnnotations: function (text, update) {
        if (text === lint.text) { update(lint.annotations); } else { lint.waiting = update; }
      }},
      hintOptions: {hint: variableHint, completeSingle: false},
      extraKeys: {"Ctrl-Space": "autocomplete"}
    });
    code.on("change", function () { code.save(); schedule(); });
    code.on("inputRead", function (editor, change) {
      var cursor = editor.getCursor();
      if (change.text[0] === "{" && editor.getLine(cursor.line).slice(0, cursor.ch).slice(-2) === "{{") {
        editor.showHint();
      }
    });
  } else {
    source.addEventListener("input", function () { schedule(); });
  }

  function getSource() { return code ? code.getValue() : source.value; }

  function setSource(text) {
    if (code) { code.setValue(text); } else { source.value = text; schedule(); }
  }

  function markError(text, line, message) {
    lint.text = text;
    lint.annotations = line ? [{from: CodeMirror.Pos(line - 1, 0), to: CodeMirror.Pos(line - 1, 1e6),
                                message: message, severity: "error"}] : [];
    if (line) { root.dataset.errorLine = line; } else { delete root.dataset.errorLine; }
    if (lint.waiting) {
      var update = lint.waiting;
      lint.waiting = null;
      update(lint.annotations);
    }
  }

  // --- the preview -------------------------------------------------------------------------------------------------

  function showError(message) {
    errorEl.textContent = message || "";
    errorEl.classList.toggle("d-none", !message);
  }

  function setText(id, value) {
    var element = document.getElementById(id);
    if (element) { element.textContent = value; }
  }

  var viewport = document.getElementById("preview-viewport");

  function showHtml() {
    if (lastHtml === null) { return; }
    var html = lastHtml;
    if (viewport.dataset.theme === "dark") {
      html = /<head\b[^>]*>/i.test(html) ? html.replace(/<head\b[^>]*>/i, function (head) { return head + DARK_CLIENT; })
        : DARK_CLIENT + html;
    }
    document.getElementById("preview-frame").srcdoc = html;
  }

  function apply(result) {
    if (channel === "email") {
      setText("preview-subject", result.subject);
      setText("preview-preheader", result.preheader);
      lastHtml = result.html;
      showHtml();
      setText("preview-text", result.text);
    } else {
      setText("sms-preview", result.text);
      setText("sms-characters", result.characters);
      setText("sms-segments", result.segments);
      setText("sms-encoding", result.encoding);
      var list = document.getElementById("sms-warnings");
      list.textContent = "";
      (result.warnings || []).forEach(function (warning) {
        var item = document.createElement("li");
        item.textContent = warning;
        list.appendChild(item);
      });
    }
  }

  function failed(message) {
    showError(message);
    statusEl.textContent = window.rtWord("error");
    root.dataset.previewState = "error";
  }

  function refresh() {
    var text = getSource();
    root.dataset.previewState = "pending";
    statusEl.textContent = window.rtWord("rendering…");
    previews.post(root.dataset.previewUrl, {source: text, cart_token: cart.value}).then(function (result) {
      var error = result.body.error;
      if (code) { markError(text, error && error.line, error && error.message); }
      if (!result.ok) {
        failed(error ? error.message : window.rtWord("The preview failed (HTTP %(status)s).", {status: result.status}));
        return;
      }
      showError("");
      apply(result.body);
      statusEl.textContent = window.rtWord("up to date");
      root.dataset.previewState = "ready";
    }).catch(function () {
      failed(window.rtWord("The preview could not be reached."));
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

  if (code && root.dataset.errorLine) {  // a refused save: mark its line in the text sent back
    markError(getSource(), Number(root.dataset.errorLine), document.getElementById("save-error").textContent);
    code.performLint();
  }

  cart.addEventListener("change", refresh);
  document.getElementById("refresh-preview").addEventListener("click", refresh);

  var controls = document.getElementById("preview-controls");
  if (controls) {
    controls.classList.remove("d-none");
    controls.querySelectorAll("button").forEach(function (button) {
      button.addEventListener("click", function () {
        var setting = button.dataset.width ? "width" : "theme";
        viewport.dataset[setting] = button.dataset[setting];
        controls.querySelectorAll("[data-" + setting + "]").forEach(function (other) {
          other.classList.toggle("active", other === button);
          other.setAttribute("aria-pressed", String(other === button));
        });
        if (setting === "theme") {
          if (lastHtml === null) { lastHtml = document.getElementById("preview-frame").srcdoc; }
          showHtml();
        }
      });
    });
    if (window.matchMedia("(max-width: 700px)").matches) {  // on a phone, the phone's view first
      document.getElementById("preview-phone").click();
    }
  }

  document.querySelectorAll(".load-version").forEach(function (button) {
    button.addEventListener("click", function () {
      setSource(button.closest("details").querySelector(".version-source").textContent);
      root.dispatchEvent(new CustomEvent("source-replaced"));
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
    post(root.dataset.testSendUrl, {to: to, source: getSource(), cart_token: cart.value}).then(function (answer) {
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

  window.RetainfulEditor = {
    root: root,
    data: data,
    post: post,
    newestOnly: newestOnly,
    getSource: getSource,
    setSource: setSource,
    shown: function () { if (code) { code.refresh(); } }  // CodeMirror measures itself when it becomes visible
  };
})();
