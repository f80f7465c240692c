/* The visual email editor: the email as a list of blocks (heading, text, product list, coupon, button, image,
 * divider, footer), each edited in place, with merge variables picked from a list.
 *
 * This script only edits the block list (JSON). The server turns it into template source (POST blocks-to-source,
 * retainful/rendering/blocks.py) and reads source back into blocks (POST source-to-blocks); the source goes into the
 * code editor (window.RetainfulEditor, editor.js), which refreshes the preview, and the form saves it like any
 * other source. #template-editor[data-mode] is "visual" or "code"; [data-blocks-state] "pending", "ready" or
 * "error", for tests.
 */
(function () {
  "use strict";
  var api = window.RetainfulEditor;  // editor.js: no editor on the page, no API
  if (!api || !api.root.dataset.blocksUrl) { return; }
  var root = api.root;
  var data = api.data;
  var words = data.words;  // translated by the page
  var types = {};
  data.blockTypes.forEach(function (type) { types[type.type] = type; });
  var modes = document.getElementById("editor-modes");
  var visual = document.getElementById("visual-editor");
  var codeEditor = document.getElementById("code-editor");
  var note = document.getElementById("mode-note");
  var list = document.getElementById("block-list");
  var addType = document.getElementById("add-block-type");
  var visualError = document.getElementById("visual-error");
  var startVisual = document.getElementById("start-visual");
  var doc = data.document;
  var timer = null;
  // Blocks to source and source to blocks, one line: loading a version drops the answer of an edit made before it.
  var requests = api.newestOnly();
  var opening = false;  // the source is on its way to becoming blocks (the user asked for the visual mode)
  root.dataset.blocksState = "ready";

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function showNote(message) {
    note.textContent = message || "";
    note.classList.toggle("d-none", !message);
  }

  function setMode(mode) {
    root.dataset.mode = mode;
    visual.classList.toggle("d-none", mode !== "visual");
    codeEditor.classList.toggle("d-none", mode !== "code");
    modes.querySelectorAll("button").forEach(function (button) {
      button.classList.toggle("active", button.dataset.mode === mode);
      button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
    });
    if (startVisual) { startVisual.classList.toggle("d-none", mode !== "code" || doc !== null); }
    if (mode === "code") { api.shown(); }
  }

  // --- the block list ----------------------------------------------------------------------------------------------

  function variablePicker(target, urlsOnly) {
    var picker = element("select", {"class": "custom-select custom-select-sm rt-variable-picker",
                                    "aria-label": words.insertVariable, "id": target.id + "-variable"});
    picker.appendChild(element("option", {value: ""}, urlsOnly ? words.linkTo : words.insertVariable));
    data.variables.filter(function (variable) { return !urlsOnly || variable.url; }).forEach(function (variable) {
      picker.appendChild(element("option", {value: variable.token}, variable.label));
    });
    picker.addEventListener("change", function () {
      if (!picker.value) { return; }
      if (urlsOnly) {
        target.value = picker.value;
      } else {
        var start = target.selectionStart === null ? target.value.length : target.selectionStart;
        var end = target.selectionEnd === null ? start : target.selectionEnd;
        target.value = target.value.slice(0, start) + picker.value + target.value.slice(end);
        target.selectionStart = target.selectionEnd = start + picker.value.length;
      }
      picker.value = "";
      target.dispatchEvent(new Event("input"));
      target.focus();
    });
    return picker;
  }

  function fieldInput(block, index, field) {
    var id = "block-" + index + "-" + field.name;
    var group = element("div", {"class": "form-group mb-2"});
    group.appendChild(element("label", {"for": id, "class": "small mb-1"}, field.label));
    var input = element(field.kind === "text" ? "textarea" : "input",
                        {id: id, "class": "form-control form-control-sm", "data-field": field.name});
    if (field.kind === "text") { input.rows = 3; }
    if (field.kind === "image") { input.type = "url"; input.placeholder = "https://"; }
    input.value = block[field.name] || "";
    input.addEventListener("input", function () {
      block[field.name] = input.value;
      input.classList.remove("is-invalid");
      schedule();
    });
    var row = element("div", {"class": "rt-field-row"});
    row.appendChild(input);
    if (field.kind !== "image") { row.appendChild(variablePicker(input, field.kind === "url")); }
    group.appendChild(row);
    return group;
  }

  function move(index, by) {
    var other = index + by;
    if (other < 0 || other >= doc.blocks.length || doc.blocks[other].type === "footer") { return; }
    var block = doc.blocks[index];
    doc.blocks[index] = doc.blocks[other];
    doc.blocks[other] = block;
    render();
    schedule();
  }

  function tool(label, title, action) {
    var button = element("button", {type: "button", "class": "btn btn-sm btn-link p-0 ml-2", title: title,
                                     "aria-label": title}, label);
    button.addEventListener("click", action);
    return button;
  }

  function render() {
    list.textContent = "";
    doc.blocks.forEach(function (block, index) {
      var type = types[block.type];
      var card = element("div", {"class": "card mb-2 rt-block", "data-type": block.type, "data-index": index,
                                 id: "block-" + index});
      var header = element("div", {"class": "card-header py-1 px-2 d-flex align-items-center"});
      header.appendChild(element("span", {"class": "small font-weight-bold mr-auto"}, type.label));
      if (block.type !== "footer") {
        header.appendChild(tool("↑", words.moveUp, function () { move(index, -1); }));
        header.appendChild(tool("↓", words.moveDown, function () { move(index, 1); }));
      }
      header.appendChild(tool("✕", words.remove, function () {
        doc.blocks.splice(index, 1);
        render();
        schedule();
      }));
      card.appendChild(header);
      if (type.fields.length) {
        var body = element("div", {"class": "card-body p-2"});
        type.fields.forEach(function (field) { body.appendChild(fieldInput(block, index, field)); });
        card.appendChild(body);
      }
      list.appendChild(card);
    });
    document.querySelectorAll(".rt-doc-field").forEach(function (input) {
      input.value = doc[input.dataset.field] || "";
    });
    var footer = addType.querySelector("option[value=footer]");  // one footer at most
    footer.disabled = doc.blocks.some(function (block) { return block.type === "footer"; });
    if (footer.disabled && addType.value === "footer") { addType.selectedIndex = 0; }
  }

  function addBlock() {
    var type = types[addType.value];
    var block = {type: type.type};
    type.fields.forEach(function (field) {
      var start = {url: "{{ recovery_url }}", image: data.sampleImage}[field.kind] || type.label;
      block[field.name] = field.required ? start : "";
    });
    var footer = doc.blocks.length && doc.blocks[doc.blocks.length - 1].type === "footer";
    doc.blocks.splice(footer ? doc.blocks.length - 1 : doc.blocks.length, 0, block);  // the footer stays last
    render();
    schedule();
    var first = list.querySelector("#block-" + doc.blocks.indexOf(block) + " input, #block-" +
                                   doc.blocks.indexOf(block) + " textarea");
    if (first) { first.focus(); first.select(); }
  }

  // --- blocks to source --------------------------------------------------------------------------------------------

  function fieldLabel(path) {
    var parts = path.split(".");
    if (parts[0] !== "blocks" || parts.length < 2) { return parts[0].charAt(0).toUpperCase() + parts[0].slice(1); }
    var block = doc.blocks[Number(parts[1])];
    var type = block && types[block.type];
    var field = type && type.fields.filter(function (f) { return f.name === parts[2]; })[0];
    return words.block + " " + (Number(parts[1]) + 1) + (type ? " (" + type.label + ")" : "") + (field ? ", " + field.label : "");
  }

  function sync() {
    root.dataset.blocksState = "pending";
    requests.post(root.dataset.blocksUrl, {document: JSON.stringify(doc)}).then(function (result) {
      if (!result.ok) {
        var error = result.body.error || {message: "HTTP " + result.status, field: ""};
        visualError.textContent = fieldLabel(error.field || "") + ": " + error.message;
        visualError.classList.remove("d-none");
        var parts = (error.field || "").split(".");
        var input = parts[0] === "blocks" ? document.getElementById("block-" + parts[1] + "-" + parts[2])
          : document.getElementById("doc-" + parts[0]);
        if (input) { input.classList.add("is-invalid"); }
        root.dataset.blocksState = "error";
        return;
      }
      visualError.classList.add("d-none");
      api.setSource(result.body.source);
      root.dataset.blocksState = "ready";
    }).catch(function () {
      visualError.textContent = words.unreachable;
      visualError.classList.remove("d-none");
      root.dataset.blocksState = "error";
    });
  }

  function schedule() {
    clearTimeout(timer);
    root.dataset.blocksState = "pending";
    timer = setTimeout(sync, 250);
  }

  // --- modes -------------------------------------------------------------------------------------------------------

  function openVisual() {
    clearTimeout(timer);  // an edit not yet sent is of the blocks being replaced
    opening = true;
    root.dataset.blocksState = "pending";
    requests.post(root.dataset.parseUrl, {source: api.getSource()}).then(function (result) {
      opening = false;
      root.dataset.blocksState = "ready";
      if (result.ok && result.body.document) {
        doc = result.body.document;
        showNote("");
        render();
        setMode("visual");
      } else {
        showNote(words.staysCode);
        doc = null;
        setMode("code");
      }
    }).catch(function () {
      opening = false;
      showNote(words.unreachable);
      root.dataset.blocksState = "error";
    });
  }

  data.blockTypes.forEach(function (type) { addType.appendChild(element("option", {value: type.type}, type.label)); });
  document.getElementById("add-block").addEventListener("click", addBlock);
  document.querySelectorAll(".rt-doc-field").forEach(function (input) {
    input.parentNode.appendChild(variablePicker(input, false));
    input.addEventListener("input", function () {
      doc[input.dataset.field] = input.value;
      input.classList.remove("is-invalid");
      schedule();
    });
  });
  document.getElementById("mode-visual").addEventListener("click", function () {
    if (root.dataset.mode !== "visual") { openVisual(); }
  });
  document.getElementById("mode-code").addEventListener("click", function () { setMode("code"); });
  startVisual.addEventListener("click", function () {
    doc = JSON.parse(JSON.stringify(data.starter));
    showNote("");
    render();
    setMode("visual");
    sync();
  });
  root.addEventListener("source-replaced", function () {
    if (root.dataset.mode === "visual" || opening) {
      openVisual();
    } else {  // an edit's answer still on its way is of the source replaced
      clearTimeout(timer);
      requests.cancel();
      root.dataset.blocksState = "ready";
    }
  });

  modes.classList.remove("d-none");
  if (doc) {
    render();
    setMode("visual");
  } else {
    showNote(words.writtenAsCode);
    setMode("code");
  }
})();
